/**
 * `deno task land`: flags and env in, a running lander out; SIGTERM or SIGINT
 * flushes what is complete, commits it and exits. The lander itself is
 * `lander.ts`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import pino from "pino";
import { applyOverrides, loadConfig, sinkActions } from "../config/mod.ts";
import { kafkaSink, kafkaTopics } from "../sinks/kafka/mod.ts";
import { parquetSink } from "../sinks/parquet/mod.ts";
import { sinkOptions, SINKS } from "../sinks/mod.ts";
import { type Lander, type LanderOptions, startLander } from "./lander.ts";

const USAGE = `Usage: deno task land [flags]

Reads Herald's Kafka topics in a consumer group and writes every record into
the Parquet lake exactly once (same tables and partitions as the Parquet sink).

  --config <path>             config (default config/gateway.yaml)
  --group <id>                consumer group (default herald-lander, env HERALD_LANDER_GROUP)
  --topics a,b                topics to read (default: the ones the Kafka sink writes)
  --tables a,b                land only these tables (rejected records are always kept)
  --flush-interval-ms <n>     flush a partition's records at least this often (default 10000)
  --flush-rows <n>            flush a partition once it holds this many records (default 100000)
  --progress-interval-ms <n>  log progress this often (default 10000)
  --session-timeout-ms <n>    consumer-group session timeout (default 10000)
  --instance-id <id>          static group membership (env HERALD_LANDER_INSTANCE_ID): a
                              lander restarted with the same id gets its partitions back at
                              once; give each lander of a group its own id
  --dedup-window-ms <n>       drop a repeat of an event_id landed this recently (default
                              3600000, env HERALD_LANDER_DEDUP_WINDOW_MS)
  --dedup-max-ids <n>         event ids remembered at most, 0 for no dedup (default 1000000,
                              env HERALD_LANDER_DEDUP_MAX_IDS)
  --from-latest               a new group starts at the end of the topics, not the beginning
  --help                      this text

Env: KAFKA_BROKERS (comma list) overrides kafka.brokers, HERALD_LAKE overrides
parquet.dir, HERALD_LANDER_GROUP sets the group, HERALD_LANDER_INSTANCE_ID the
instance id, HERALD_LANDER_DEDUP_WINDOW_MS and HERALD_LANDER_DEDUP_MAX_IDS the
dedup window (the flags win). HERALD_LANDER_KILL=after-files
makes the lander kill itself (SIGKILL) after writing its first range's files and
before committing them: a crash drill. SIGTERM or SIGINT flushes what is
complete, commits it and exits.`;

function positive(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new TypeError(`--${name} must be a positive integer, got "${text}"`);
  }
  return n;
}

function count(name: string, text: string | undefined, fallback: number): number {
  return text === "0" ? 0 : positive(name, text, fallback);
}

/** Runs the lander until SIGTERM/SIGINT; resolves with the exit code. */
export async function main(args: string[]): Promise<number> {
  let flags;
  try {
    flags = parseArgs({
      args,
      options: {
        config: { type: "string", default: "config/gateway.yaml" },
        group: { type: "string" },
        topics: { type: "string" },
        tables: { type: "string" },
        "flush-interval-ms": { type: "string" },
        "flush-rows": { type: "string" },
        "progress-interval-ms": { type: "string" },
        "session-timeout-ms": { type: "string" },
        "instance-id": { type: "string" },
        "dedup-window-ms": { type: "string" },
        "dedup-max-ids": { type: "string" },
        "from-latest": { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  const logger = pino(
    { base: { service: "herald-lander" } },
    pino.destination({ dest: 2, sync: true }),
  );
  let stop!: (signal: string) => void;
  const stopped = new Promise<string>((resolve) => (stop = resolve));
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(signal, () => stop(signal));
  }

  const loaded = await loadConfig(flags.config, { registry: SINKS });
  if (!loaded.ok) {
    for (const line of loaded.errors) console.error(line);
    return 1;
  }
  let options: LanderOptions;
  try {
    const config = applyOverrides(loaded.config, {
      registry: SINKS,
      env: (name) => Deno.env.get(name),
    });
    const kafkaOpts = sinkOptions(config, kafkaSink);
    const parquetOpts = sinkOptions(config, parquetSink);
    const tableNames = new Set(config.actions.map((a) => a.table));
    const wanted = flags.tables?.split(",").map((t) => t.trim()).filter(Boolean);
    for (const t of wanted ?? []) {
      if (!tableNames.has(t)) {
        throw new TypeError(
          `--tables: unknown table "${t}": expected one of ${[...tableNames].join(", ")}`,
        );
      }
    }
    options = {
      config,
      brokers: kafkaOpts.brokers,
      lake: parquetOpts.dir,
      group: flags.group ?? Deno.env.get("HERALD_LANDER_GROUP") ?? "herald-lander",
      topics: flags.topics?.split(",").map((t) => t.trim()).filter(Boolean) ??
        kafkaTopics(kafkaOpts, sinkActions(config).map((a) => a.event_type)),
      tables: wanted?.length ? new Set(wanted) : null,
      compression: parquetOpts.compression,
      flushIntervalMs: positive("flush-interval-ms", flags["flush-interval-ms"], 10_000),
      flushRows: positive("flush-rows", flags["flush-rows"], 100_000),
      progressIntervalMs: positive("progress-interval-ms", flags["progress-interval-ms"], 10_000),
      sessionTimeoutMs: positive("session-timeout-ms", flags["session-timeout-ms"], 10_000),
      instanceId: flags["instance-id"] ?? Deno.env.get("HERALD_LANDER_INSTANCE_ID") ?? null,
      fromBeginning: !flags["from-latest"],
      clientId: `${kafkaOpts.client_id}-lander`,
      dedupWindowMs: positive(
        "dedup-window-ms",
        flags["dedup-window-ms"] ?? Deno.env.get("HERALD_LANDER_DEDUP_WINDOW_MS"),
        3_600_000,
      ),
      dedupMaxIds: count(
        "dedup-max-ids",
        flags["dedup-max-ids"] ?? Deno.env.get("HERALD_LANDER_DEDUP_MAX_IDS"),
        1_000_000,
      ),
      killAfterFiles: Deno.env.get("HERALD_LANDER_KILL") === "after-files",
      logger,
    };
  } catch (error) {
    console.error(`Cannot start the lander: ${(error as Error).message}`);
    return 1;
  }

  let lander: Lander;
  try {
    lander = await startLander(options);
  } catch (error) {
    logger.error({ err: String(error) }, "cannot start the lander");
    return 1;
  }
  const signal = await stopped;
  logger.info({ signal }, "stopping");
  await lander.stop();
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));

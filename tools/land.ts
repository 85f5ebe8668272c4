/**
 * `deno task land`: the Kafka -> Parquet lander (the seeds' Spark streaming
 * job). A kafkajs consumer in a consumer group reads Herald's topics, checks
 * each record against the config, and writes it with the Parquet sink's code
 * (same tables, column types and `dt=/hour=` partitions) into the lake.
 *
 * Exactly once in the lake, per topic partition:
 *
 * - Records are buffered as a *range* of offsets `[first, last]`. A range is
 *   flushed when it holds `--flush-rows` records or is `--flush-interval-ms`
 *   old: its files are named `land-<topic>-<partition>-<first>.parquet` (one
 *   per table partition), written atomically (temp name, fsync, rename, folder
 *   fsync), and only then is offset `last + 1` committed to the group.
 * - Before the files, the range is claimed: `<lake>/_land/<group>/<topic>-
 *   <partition>/<first>.json` holding `[first, last]` is published with an
 *   exclusive link, so the first claim of an offset wins and is never
 *   rewritten. Whoever writes `land-...-<first>` files (this lander after a
 *   crash, another after a rebalance, a stalled one waking up late) writes
 *   the claimed range and nothing else: a file's rows are a function of its
 *   name. A lander that finds an offset claimed with another end drops its
 *   buffer, seeks back and rebuilds the claimed range.
 * - After a crash the group restarts from the committed offset `first`; the
 *   lander finds the claim and rebuilds exactly `[first, last]`, so it
 *   rewrites the same files with the same rows instead of adding new ones.
 * - Scale-out is Kafka's consumer-group protocol. On a rebalance the lander
 *   drops what it has not committed and commits nothing it flushed under the
 *   old assignment; whoever owns the partition next starts from the committed
 *   offset and follows the claims.
 *
 * Records that are not JSON, name no configured action, or carry a field of
 * the wrong type go to the `_rejected` table with the raw value, topic,
 * partition, offset and the reason. Keys that are not columns of the table are
 * ignored, as the Parquet sink ignores them.
 *
 * ```sh
 * deno task land                                  # config/gateway.yaml, group herald-lander
 * deno task land --tables purchases,joins --flush-interval-ms 2000
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { Consumer, EachBatchPayload, KafkaMessage } from "kafkajs";
import pino, { type Logger } from "pino";
import {
  type ActionConfig,
  applyOverrides,
  type GatewayConfig,
  loadConfig,
} from "../config/mod.ts";
import { coerceField } from "../config/fields.ts";
import { ColumnarBuffer } from "../sinks/_columnar.ts";
import {
  type Column,
  type CompressionName,
  lakeTables,
  ParquetEncoder,
  partitionOf,
  writeFileAtomic,
} from "../sinks/_parquet_file.ts";
import { type KafkaOptions, kafkaTopics } from "../sinks/kafka.ts";
import type { ParquetOptions } from "../sinks/parquet.ts";
import type { Event } from "../sinks/mod.ts";
import { claim, pruneClaims, type Range, readClaim } from "./land/claims.ts";

/** The table of records the lander could not land. */
export const REJECTED_TABLE = "_rejected";

const REJECTED_COLUMNS: readonly Column[] = [
  { name: "raw", type: "string" },
  { name: "topic", type: "string" },
  { name: "partition", type: "int" },
  { name: "offset", type: "int" },
  { name: "reason", type: "string" },
  { name: "record_time", type: "timestamp" },
];

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
  --session-timeout-ms <n>    consumer-group session timeout (default 30000)
  --from-latest               a new group starts at the end of the topics, not the beginning
  --help                      this text

Env: KAFKA_BROKERS (comma list) overrides kafka.brokers, HERALD_LAKE overrides
parquet.dir, HERALD_LANDER_GROUP sets the group. HERALD_LANDER_KILL=after-files
makes the lander kill itself (SIGKILL) after writing its first range's files and
before committing them: a crash drill. SIGTERM or SIGINT flushes what is
complete, commits it and exits.`;

/** What the lander needs; `main()` builds it from flags, env and config. */
export interface LanderOptions {
  config: GatewayConfig;
  brokers: string[];
  lake: string;
  group: string;
  topics: string[];
  /** Tables to land; null for all. */
  tables: ReadonlySet<string> | null;
  compression: CompressionName;
  flushIntervalMs: number;
  flushRows: number;
  progressIntervalMs: number;
  sessionTimeoutMs: number;
  fromBeginning: boolean;
  clientId: string;
  /** Kill the process with SIGKILL after the first range's files, before its commit. */
  killAfterFiles?: boolean;
  logger: Logger;
}

/** A record's place in the lake, or why it has none. */
export type Routed =
  | { table: string; event: Event }
  | { rejected: string };

// One decoder each, not one per record: routing is the lander's hot loop.
const UTF8_STRICT = new TextDecoder("utf-8", { fatal: true });
/** For `_rejected.raw`: bad bytes become U+FFFD so the row still lands. */
const UTF8_LENIENT = new TextDecoder();

/**
 * Checks one record value against the config: JSON object, a configured
 * action whose event type matches, Herald's own columns and the action's
 * fields with their types.
 */
export function routeRecord(
  value: Uint8Array | null,
  actions: ReadonlyMap<string, ActionConfig>,
): Routed {
  if (value === null) return { rejected: "record has no value" };
  let text: string;
  try {
    text = UTF8_STRICT.decode(value);
  } catch {
    return { rejected: "value is not UTF-8" };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { rejected: `value is not JSON: ${(error as Error).message}` };
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return { rejected: "value is not a JSON object" };
  }
  const event = parsed as Record<string, unknown>;
  if (typeof event.action !== "string") return { rejected: 'field "action" must be a string' };
  const action = actions.get(event.action);
  if (!action) return { rejected: `unknown action "${event.action}"` };
  if (event.event_type !== action.event_type) {
    return {
      rejected: `field "event_type" must be "${action.event_type}" for action "${action.name}"`,
    };
  }
  for (const name of ["event_id", "received_at"]) {
    if (typeof event[name] !== "string") return { rejected: `field "${name}" must be a string` };
  }
  if (!Number.isFinite(Date.parse(event.received_at as string))) {
    return { rejected: 'field "received_at" must be an ISO 8601 timestamp' };
  }
  for (const spec of action.fields) {
    const raw = event[spec.name];
    if (raw === undefined || raw === null) continue;
    const result = coerceField(spec, raw, false);
    if ("problem" in result) return { rejected: `field "${spec.name}" ${result.problem}` };
    event[spec.name] = result.value;
  }
  return { table: action.table, event: event as Event };
}

/** How long the claims of committed ranges are kept (see {@linkcode pruneClaims}). */
const CLAIM_RETENTION_MS = 60 * 60 * 1000;

/** Records of one topic partition not yet committed. */
interface PartitionState {
  topic: string;
  partition: number;
  /** First offset of the open range, or null when nothing is buffered. */
  first: number | null;
  last: number;
  /** A claimed range being rebuilt (after a crash or a rebalance): flush exactly at its end. */
  replay: Range | null;
  /** The group generation the state belongs to; a rejoin makes it stale. */
  generation: number;
  /** When claims of committed ranges were last pruned. */
  prunedAt: number;
  /** Buffers by `<table>/dt=.../hour=...`. */
  buffers: Map<string, { table: string; buffer: ColumnarBuffer }>;
  records: number;
  openedAt: number;
  /** Offset after the last one seen, and the partition's high watermark, for lag. */
  next: number;
  highWatermark: number;
}

/** Counters for progress lines and the exit line. */
export interface LanderStats {
  records: number;
  rejected: number;
  skipped: number;
  files: number;
  commits: number;
}

/** A running lander; `stop()` flushes what is complete, commits and disconnects. */
export interface Lander {
  stats(): LanderStats;
  stop(): Promise<void>;
}

/** Starts consuming; resolves once the consumer runs. */
export async function startLander(options: LanderOptions): Promise<Lander> {
  const { logger, lake, group } = options;
  const { Kafka, logLevel } = await import("kafkajs");
  const actions = new Map(options.config.actions.map((a) => [a.name, a]));
  const tables = lakeTables(options.config);
  const encoder = new ParquetEncoder();
  const states = new Map<string, PartitionState>();
  const stats: LanderStats = { records: 0, rejected: 0, skipped: 0, files: 0, commits: 0 };
  let rebalancing = false;
  // Bumped on every rebalance and join: states and flushes of an older
  // generation never commit, since their partitions may have moved.
  let generation = 0;
  let stopping = false;

  // One thing at a time: batches, timed flushes, the rebalance reset and stop.
  let chain: Promise<unknown> = Promise.resolve();
  const locked = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn);
    chain = run.catch(() => {});
    return run;
  };

  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: logLevel.WARN,
    logCreator: () => ({ namespace, log }) =>
      logger.debug({ kafkajs: namespace, ...log }, log.message),
  });
  const consumer: Consumer = kafka.consumer({
    groupId: group,
    sessionTimeout: options.sessionTimeoutMs,
    heartbeatInterval: Math.min(3000, Math.floor(options.sessionTimeoutMs / 3)),
    allowAutoTopicCreation: false,
  });

  const claimDir = (topic: string, partition: number) =>
    `${lake}/_land/${encodeURIComponent(group)}/${encodeURIComponent(topic)}-${partition}`;

  async function prune(state: PartitionState, committed: number): Promise<void> {
    if (Date.now() - state.prunedAt < 60_000) return;
    state.prunedAt = Date.now();
    await pruneClaims(claimDir(state.topic, state.partition), committed, {
      retentionMs: CLAIM_RETENTION_MS,
    });
  }

  async function stateFor(topic: string, partition: number, firstSeen: number) {
    const key = `${topic}\u0000${partition}`;
    let state = states.get(key);
    if (!state || state.generation !== generation) {
      // The group resumes from the committed offset: a claim starting there
      // was never committed and must be rebuilt as claimed.
      const replay = await readClaim(claimDir(topic, partition), firstSeen);
      if (replay) logger.info({ topic, partition, ...replay }, "rebuilding a claimed range");
      state = {
        topic,
        partition,
        first: null,
        last: -1,
        replay,
        generation,
        prunedAt: 0,
        buffers: new Map(),
        records: 0,
        openedAt: 0,
        next: firstSeen,
        highWatermark: firstSeen,
      };
      states.set(key, state);
    }
    return state;
  }

  /** Drops the open range and reads again from `claimed.first` to rebuild the claimed range. */
  function rewind(state: PartitionState, claimed: Range): void {
    const { topic, partition } = state;
    logger.warn(
      { topic, partition, ours: { first: state.first, last: state.last }, claimed },
      "offset already claimed with another end; rebuilding the claimed range",
    );
    state.first = null;
    state.replay = claimed;
    state.buffers = new Map();
    state.records = 0;
    state.next = claimed.first;
    consumer.seek({ topic, partition, offset: String(claimed.first) });
  }

  function add(state: PartitionState, message: KafkaMessage, offset: number): void {
    if (state.first === null) {
      state.first = state.replay?.first ?? offset;
      state.openedAt = Date.now();
    }
    state.last = offset;
    state.next = offset + 1;
    state.records++;
    const routed = routeRecord(message.value, actions);
    let table: string;
    let event: Event;
    if ("rejected" in routed) {
      const time = Number(message.timestamp);
      table = REJECTED_TABLE;
      event = {
        raw: message.value === null ? null : UTF8_LENIENT.decode(message.value),
        topic: state.topic,
        partition: state.partition,
        offset,
        reason: routed.rejected,
        record_time: new Date(Number.isFinite(time) ? time : 0).toISOString(),
        received_at: new Date(Number.isFinite(time) ? time : 0).toISOString(),
      };
      stats.rejected++;
    } else {
      if (options.tables && !options.tables.has(routed.table)) {
        stats.skipped++;
        return;
      }
      table = routed.table;
      event = routed.event;
      stats.records++;
    }
    const key = `${table}/${partitionOf(event)}`;
    let entry = state.buffers.get(key);
    if (!entry) {
      const columns = table === REJECTED_TABLE ? REJECTED_COLUMNS : tables.get(table)!;
      entry = { table, buffer: new ColumnarBuffer(columns) };
      state.buffers.set(key, entry);
    }
    entry.buffer.append(event);
  }

  /** Claims the open range, writes its files, then commits past it. */
  async function flush(state: PartitionState): Promise<void> {
    if (state.first === null || state.generation !== generation) return;
    const range = { first: state.first, last: state.last };
    if (!state.replay) {
      const claimed = await claim(claimDir(state.topic, state.partition), range);
      if (claimed.last !== range.last) return rewind(state, claimed);
    }
    const topic = encodeURIComponent(state.topic);
    const name = `land-${topic}-${state.partition}-${range.first}.parquet`;
    for (const [key, { buffer }] of state.buffers) {
      const bytes = await encoder.encode(buffer.toTable(), options.compression);
      // Another lander may write the same file at the same moment (same rows):
      // each writes its own temporary file.
      const path = `${lake}/${key}/${name}`;
      await writeFileAtomic(path, bytes, { tmp: `${path}.${crypto.randomUUID()}.tmp` });
      stats.files++;
    }
    // Fault injection for crash tests and drills: die as kill -9 would, with
    // the range's files written and its offsets not yet committed.
    if (options.killAfterFiles) Deno.kill(Deno.pid, "SIGKILL");
    // A rebalance while the files were written: the partition's next owner
    // follows the claim and commits it; a commit from here could go backwards.
    if (state.generation !== generation) return;
    await consumer.commitOffsets([
      { topic: state.topic, partition: state.partition, offset: String(range.last + 1) },
    ]);
    stats.commits++;
    logger.debug({ topic: state.topic, partition: state.partition, ...range }, "range landed");
    state.first = null;
    state.replay = null;
    state.buffers = new Map();
    state.records = 0;
    await prune(state, range.last + 1).catch((error) =>
      logger.warn({ err: String(error) }, "cannot prune range claims")
    );
  }

  const due = (state: PartitionState) =>
    state.first !== null && !state.replay &&
    (state.records >= options.flushRows || Date.now() - state.openedAt >= options.flushIntervalMs);

  async function eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    await locked(async () => {
      const firstMessage = batch.messages[0];
      if (!firstMessage) return;
      const state = await stateFor(batch.topic, batch.partition, Number(firstMessage.offset));
      state.highWatermark = Number(batch.highWatermark);
      for (const message of batch.messages) {
        // A rewind (seek) or a rejoin makes the rest of the batch stale.
        if (!isRunning() || isStale() || stopping || state.generation !== generation) break;
        const offset = Number(message.offset);
        if (offset < state.next) continue;
        if (state.replay && offset > state.replay.last) await flush(state);
        add(state, message, offset);
        resolveOffset(message.offset);
        if (state.replay ? offset === state.replay.last : due(state)) await flush(state);
        if (state.records % 5000 === 0) await heartbeat();
      }
      if (due(state)) await flush(state);
    });
  }

  consumer.on(consumer.events.REBALANCING, () => {
    rebalancing = true;
    generation++;
  });
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    // The group resumes every partition from its committed offset: whatever
    // was buffered is read again, by this lander or another.
    generation++;
    void locked(() => {
      states.clear();
      rebalancing = false;
      logger.info({ assigned: payload.memberAssignment }, "partitions assigned");
      return Promise.resolve();
    });
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    logger.error({ err: payload.error?.message, restart: payload.restart }, "consumer crashed");
  });

  // Partitions that stop receiving records are flushed by age here.
  const timer = setInterval(() => {
    if (rebalancing || stopping) return;
    void locked(async () => {
      for (const state of states.values()) {
        if (rebalancing || stopping) return;
        if (due(state)) await flush(state);
      }
    }).catch((error) => logger.warn({ err: String(error) }, "timed flush failed; will retry"));
  }, Math.max(100, Math.min(1000, options.flushIntervalMs / 4)));

  let lastCount = 0;
  let lastAt = Date.now();
  const progress = setInterval(() => {
    const now = Date.now();
    const lag: Record<string, number> = {};
    for (const s of states.values()) lag[`${s.topic}/${s.partition}`] = s.highWatermark - s.next;
    const done = stats.records + stats.rejected + stats.skipped;
    logger.info({
      records_per_s: Math.round(((done - lastCount) * 1000) / Math.max(1, now - lastAt)),
      lag,
      ...stats,
    }, "progress");
    lastCount = done;
    lastAt = now;
  }, options.progressIntervalMs);

  await consumer.connect();
  await consumer.subscribe({ topics: options.topics, fromBeginning: options.fromBeginning });
  await consumer.run({ eachBatchAutoResolve: false, autoCommit: false, eachBatch });
  logger.info({ group, topics: options.topics, lake, brokers: options.brokers }, "landing");

  return {
    stats: () => ({ ...stats }),
    async stop() {
      stopping = true;
      clearInterval(timer);
      clearInterval(progress);
      // Commit what is complete while the consumer still runs (kafkajs ignores
      // commits after stop). A range being rebuilt is left for the next run.
      await locked(async () => {
        if (rebalancing) return;
        for (const state of states.values()) {
          if (state.first !== null && !state.replay) await flush(state);
        }
      }).catch((error) => logger.warn({ err: String(error) }, "final flush failed"));
      await consumer.disconnect();
      encoder.close();
      logger.info({ ...stats }, "lander stopped");
    },
  };
}

function positive(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new TypeError(`--${name} must be a positive integer, got "${text}"`);
  }
  return n;
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

  const loaded = await loadConfig(flags.config);
  if (!loaded.ok) {
    for (const line of loaded.errors) console.error(line);
    return 1;
  }
  let options: LanderOptions;
  try {
    const config = applyOverrides(loaded.config, { env: (name) => Deno.env.get(name) });
    const kafkaOpts = config.sinkOptions.kafka as KafkaOptions;
    const parquetOpts = config.sinkOptions.parquet as ParquetOptions;
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
        kafkaTopics(kafkaOpts, config.actions.map((a) => a.event_type)),
      tables: wanted?.length ? new Set(wanted) : null,
      compression: parquetOpts.compression as CompressionName,
      flushIntervalMs: positive("flush-interval-ms", flags["flush-interval-ms"], 10_000),
      flushRows: positive("flush-rows", flags["flush-rows"], 100_000),
      progressIntervalMs: positive("progress-interval-ms", flags["progress-interval-ms"], 10_000),
      sessionTimeoutMs: positive("session-timeout-ms", flags["session-timeout-ms"], 30_000),
      fromBeginning: !flags["from-latest"],
      clientId: `${kafkaOpts.client_id}-lander`,
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

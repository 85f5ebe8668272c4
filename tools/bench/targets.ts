/**
 * The targets the bench measures, each with the command that starts it: the
 * bare `Deno.serve` ceiling, Herald with one sink each, the batch route, and
 * the seeds' Flask + kafka-python app.
 *
 * @module
 */
import { join } from "node:path";
import { sseMessages } from "../../live/mod.ts";
import { BATCH_SIZE, type TargetId } from "./args.ts";
import { CONFIG, ROOT } from "./process.ts";
import type { TargetKind } from "./results.ts";

const PYTHON = "/usr/bin/python3";
const APT_HINT = "sudo apt-get install -y python3-flask python3-kafka";

/** A target of the bench and how to start it. */
export interface TargetSpec {
  id: TargetId;
  label: string;
  kind: TargetKind;
  batch: number;
  needsKafka: boolean;
  /** The sink whose flushes `/metrics` counts (`herald_sink_flush_events`), if any. */
  flushSink?: string;
  /**
   * Attached to the target once it answers, for the whole measurement (a
   * live page viewer); resolves to a closer that says what it saw.
   */
  attach?(url: string): Promise<() => Promise<string>>;
  /** The command to spawn on `port`, or a reason to skip. */
  command(
    ctx: RunContext,
    port: number,
  ): Promise<{ cmd: string; args: string[]; env: Record<string, string> } | { skip: string }>;
}

/** What every target of one run shares. */
export interface RunContext {
  serve: string[];
  /** Lines for the report's notes: errors seen, rows skipped. */
  notices: string[];
  /** Aborted on SIGINT or SIGTERM: load runs stop early. */
  abort: AbortController;
  brokers: string | null;
  /** The local broker's process, for its CPU time. */
  brokerPid: number | null;
  kafkaProblem: string | null;
  tempDirs: string[];
}

function heraldTarget(
  id: TargetId,
  label: string,
  sink: string,
  batch = 1,
  extraArgs: readonly string[] = [],
): TargetSpec {
  return {
    id,
    label,
    kind: "herald",
    batch,
    needsKafka: sink === "kafka",
    flushSink: sink,
    async command(ctx, port) {
      const lake = await Deno.makeTempDir({ prefix: "herald-bench-lake-" });
      ctx.tempDirs.push(lake);
      const env: Record<string, string> = { HERALD_LAKE: lake };
      if (sink === "kafka") {
        if (ctx.brokers === null) return { skip: ctx.kafkaProblem ?? "no Kafka broker" };
        env.KAFKA_BROKERS = ctx.brokers;
      }
      return {
        cmd: Deno.execPath(),
        args: [
          ...ctx.serve,
          "--config",
          CONFIG,
          "--port",
          String(port),
          "--sinks",
          sink,
          ...extraArgs,
        ],
        env,
      };
    },
  };
}

/**
 * One live page viewer: reads `/live/stream` as a browser would, parsing
 * every message, until closed; then says how many events it read and what
 * the last status said was sampled out or dropped.
 */
async function attachViewer(url: string): Promise<() => Promise<string>> {
  const abort = new AbortController();
  const res = await fetch(`${url}/live/stream`, { signal: abort.signal });
  if (res.status !== 200) throw new Error(`/live/stream answered ${res.status}`);
  let messages = 0;
  let status: { accepted?: { seen: number; kept: number }; dropped?: number } = {};
  const reading = (async () => {
    try {
      for await (const message of sseMessages(res.body!)) {
        if (message.event === "status") status = JSON.parse(message.data);
        else {
          JSON.parse(message.data);
          messages++;
        }
      }
    } catch { /* aborted */ }
  })();
  return async () => {
    abort.abort();
    await reading;
    const sampled = status.accepted ? `${status.accepted.kept} of ${status.accepted.seen}` : "?";
    return `the viewer read ${messages} events; last second kept ${sampled}, ` +
      `dropped ${status.dropped ?? 0} in all`;
  };
}

/** Why the seeds' app cannot run here, or null. */
export async function seedsProblem(): Promise<string | null> {
  try {
    const { success } = await new Deno.Command(PYTHON, {
      args: ["-c", "import flask, kafka"],
      stdout: "null",
      stderr: "null",
    }).output();
    if (success) return null;
    return `${PYTHON} cannot import flask and kafka: install them with \`${APT_HINT}\``;
  } catch {
    return `${PYTHON} is missing: install it and the seeds' packages with ` +
      `\`sudo apt-get install -y python3 python3-flask python3-kafka\``;
  }
}

/** Every target, in the order they run. */
export const TARGETS: readonly TargetSpec[] = [
  {
    id: "ceiling",
    label: "ceiling (bare Deno.serve)",
    kind: "ceiling",
    batch: 1,
    needsKafka: false,
    command: (_ctx, port) =>
      Promise.resolve({
        cmd: Deno.execPath(),
        args: [
          "run",
          "--allow-net",
          join(ROOT, "tools", "bench", "ceiling.ts"),
          "--port",
          `${port}`,
        ],
        env: {},
      }),
  },
  heraldTarget("stdout", "Herald, stdout sink", "stdout"),
  heraldTarget("stdout-w2", "Herald, stdout sink, --workers 2", "stdout", 1, ["--workers", "2"]),
  heraldTarget("stdout-live", "Herald, stdout sink, --live, no viewer", "stdout", 1, ["--live"]),
  {
    ...heraldTarget("stdout-viewer", "Herald, stdout sink, --live, 1 viewer", "stdout", 1, [
      "--live",
    ]),
    attach: attachViewer,
  },
  {
    id: "fsync",
    label: "fsync ceiling (Deno.serve + fsync)",
    kind: "ceiling",
    batch: 1,
    needsKafka: false,
    flushSink: "fsync",
    async command(ctx, port) {
      const dir = await Deno.makeTempDir({ prefix: "herald-bench-fsync-" });
      ctx.tempDirs.push(dir);
      return {
        cmd: Deno.execPath(),
        args: [
          "run",
          "--allow-net",
          "--allow-read",
          "--allow-write",
          join(ROOT, "tools", "bench", "fsync_ceiling.ts"),
          "--port",
          `${port}`,
          "--file",
          join(dir, "ceiling.log"),
        ],
        env: {},
      };
    },
  },
  heraldTarget("parquet", "Herald, Parquet sink", "parquet"),
  heraldTarget("kafka", "Herald, Kafka sink", "kafka"),
  heraldTarget("batch", `Herald, batch of ${BATCH_SIZE} -> Kafka`, "kafka", BATCH_SIZE),
  {
    id: "seeds",
    label: "seeds (Flask + kafka-python)",
    kind: "seeds",
    batch: 1,
    needsKafka: true,
    async command(ctx, port) {
      const problem = await seedsProblem();
      if (problem !== null) return { skip: problem };
      if (ctx.brokers === null) return { skip: ctx.kafkaProblem ?? "no Kafka broker" };
      return {
        cmd: PYTHON,
        args: [join(ROOT, "tools", "bench", "seeds_app.py")],
        env: { PORT: String(port), HOST: "127.0.0.1", KAFKA_BROKERS: ctx.brokers },
      };
    },
  },
];

/**
 * The steps every drill shares: a {@linkcode Run} sets up a temp folder, a
 * lake and a config, starts and stops Herald, records checks and notes, and
 * asks the oracle for the verdict; {@linkcode drill} runs a drill's body in
 * one and always cleans up.
 *
 * @module
 */
import { drillConfig, type Herald, rssBytes, startHerald, waitReady } from "./herald.ts";
import { type DrillLander, spawnLander } from "./lander.ts";
import { LatencyRecorder } from "../load/latency.ts";
import { countOutcomes, type Outcome } from "./load.ts";
import {
  checkParquetFiles,
  checkSink,
  type Counts,
  kafkaCounts,
  lakeCounts,
  type SinkCheck,
  stdoutCounts,
} from "./oracle.ts";
import type { DrillContext, DrillResult } from "./types.ts";

/** A mebibyte, in bytes. */
export const MB = 1024 * 1024;

/** How a drill starts Herald. */
export interface StartOptions {
  keepStdout?: boolean;
  /** Bootstrap brokers (default: the shared single broker when the sinks include kafka). */
  brokers?: string;
  /** More flags of `deno task serve` (`--workers 2`). */
  args?: string[];
}

/** Everything a drill sets up and must tear down, and the shared bookkeeping. */
export class Run {
  name: string;
  ctx: DrillContext;
  started = Date.now();
  dir = "";
  lake = "";
  topic: string;
  configPath = "";
  config: Record<string, Record<string, unknown>> = {};
  herald: Herald | null = null;
  heralds: Herald[] = [];
  landers: DrillLander[] = [];
  /** The Kafka the current Herald writes to, which the oracle reads. */
  brokers: string | null = null;
  failures: string[] = [];
  notes: string[] = [];
  maxRss = 0;
  #rssTimer: ReturnType<typeof setInterval> | undefined;

  constructor(name: string, ctx: DrillContext) {
    this.name = name;
    this.ctx = ctx;
    this.topic = `drill-${name}-${crypto.randomUUID().slice(0, 8)}`;
  }

  async setup(overrides: Record<string, Record<string, unknown>> = {}): Promise<void> {
    this.dir = await Deno.makeTempDir({ prefix: "drill-" });
    this.lake = `${this.dir}/lake`;
    await Deno.mkdir(this.lake);
    const { path, config } = await drillConfig(this.dir, {
      ...overrides,
      kafka: { topic: this.topic, ...overrides.kafka },
    });
    this.configPath = path;
    this.config = config;
  }

  get ackTimeoutMs(): number {
    return Number(this.config.server!.ack_timeout_ms);
  }

  async start(sinks: string, options: StartOptions = {}): Promise<Herald> {
    const brokers = options.brokers ??
      (sinks.includes("kafka") ? (await this.ctx.broker()).current.brokers : undefined);
    this.brokers = brokers ?? null;
    const herald = await startHerald({
      config: this.configPath,
      sinks,
      lake: this.lake,
      brokers,
      keepStdout: options.keepStdout,
      args: options.args,
    });
    this.herald = herald;
    this.heralds.push(herald);
    return herald;
  }

  /** {@linkcode start}, then waits until `/readyz` answers 200 (throws if it never does). */
  async startReady(sinks: string, options: StartOptions = {}): Promise<Herald> {
    const herald = await this.start(sinks, options);
    if (!(await waitReady(herald.url))) throw new Error("Herald never became ready");
    return herald;
  }

  /** Starts a lander of `group` that lands the drill's topic, from its Kafka, into its lake. */
  async startLander(group: string): Promise<DrillLander> {
    if (this.brokers === null) throw new Error("Start a Herald with the Kafka sink first");
    const lander = await spawnLander({
      config: this.configPath,
      lake: this.lake,
      brokers: this.brokers,
      group,
    });
    this.landers.push(lander);
    return lander;
  }

  /** Samples the current Herald's RSS every 200 ms. */
  sampleRss(): void {
    this.#rssTimer = setInterval(async () => {
      const pid = this.herald?.pid;
      if (pid === undefined) return;
      const rss = await rssBytes(pid);
      if (rss !== null) this.maxRss = Math.max(this.maxRss, rss);
    }, 200);
  }

  check(condition: boolean, failure: string): void {
    if (!condition) this.failures.push(failure);
  }

  log(message: string): void {
    this.ctx.log(`[${this.name}] ${message}`);
  }

  /** SIGTERMs `herald` (default: the current one) and records a failure unless it exits 0. */
  async stopClean(herald = this.herald!): Promise<{ code: number; ms: number }> {
    const t0 = Date.now();
    const status = await herald.stop("SIGTERM");
    const ms = Date.now() - t0;
    this.check(
      status.code === 0,
      `Herald exited with ${status.code} (signal ${status.signal}) after SIGTERM: ${
        herald.stderr().split("\n").filter((l) => /"level":(40|50|60)/.test(l)).slice(-3).join(
          " | ",
        )
      }`,
    );
    if (herald === this.herald) this.herald = null;
    return { code: status.code, ms };
  }

  /**
   * Asks the oracle: every obligation in every sink exactly once. With
   * `landed`, the lake is the landers' copy of the topic: it must also hold
   * every record of the topic, acknowledged or not, as often as the topic does.
   */
  async verdict(
    outcomes: readonly Outcome[],
    sources: { kafka?: boolean; lake?: boolean; stdout?: string; landed?: boolean },
  ): Promise<DrillResult> {
    const obligations = new Set(
      outcomes.filter((o) => o.status >= 200 && o.status <= 299).map((o) => o.oid),
    );
    const sinks: Record<string, SinkCheck> = {};
    const stored = new Set<string>();
    const read = new Map<string, Counts>();
    const add = (name: string, counts: Counts) => {
      sinks[name] = checkSink(obligations, counts);
      read.set(name, counts);
      for (const oid of counts.keys()) if (!obligations.has(oid)) stored.add(oid);
    };
    if (sources.kafka) {
      const brokers = this.brokers ?? (await this.ctx.broker()).current.brokers;
      add("kafka", await kafkaCounts(brokers, this.topic));
    }
    if (sources.lake) {
      add("lake", await lakeCounts(this.lake));
      const files = await checkParquetFiles(this.lake);
      this.check(
        files.unreadable.length === 0,
        `unreadable Parquet files: ${files.unreadable.join("; ")}`,
      );
    }
    if (sources.landed) {
      const differ = countsDiffer(read.get("kafka") ?? new Map(), read.get("lake") ?? new Map());
      this.check(
        differ.length === 0,
        `the lake differs from the topic for ${differ.length} oids (e.g. ${differ[0]})`,
      );
    }
    if (sources.stdout !== undefined) {
      const { counts, badLines } = stdoutCounts(sources.stdout);
      add("stdout", counts);
      this.check(badLines === 0, `${badLines} stdout lines are not JSON events`);
    }
    const missing = new Set<string>();
    const duplicated = new Set<string>();
    for (const [name, check] of Object.entries(sinks)) {
      for (const oid of check.missing) missing.add(oid);
      for (const oid of check.duplicated) duplicated.add(oid);
      if (check.missing.length > 0) {
        this.notes.push(`${name} misses ${check.missing.length} (e.g. ${check.missing[0]})`);
      }
      if (check.duplicated.length > 0) {
        this.notes.push(
          `${name} has ${check.duplicated.length} twice (e.g. ${check.duplicated[0]})`,
        );
      }
    }
    const counts = countOutcomes(outcomes);
    this.check(counts.ok > 0, "no request was acknowledged: the drill proved nothing");
    const result: DrillResult = {
      name: this.name,
      notRun: null,
      counts,
      sinks,
      missing: missing.size,
      duplicated: duplicated.size,
      p99Ms: p99(outcomes),
      unacknowledgedStored: stored.size,
      failures: this.failures,
      notes: this.notes,
      ok: false,
      ms: Date.now() - this.started,
    };
    result.ok = result.missing === 0 && result.duplicated === 0 && result.failures.length === 0;
    return result;
  }

  /** Kills what is left, whatever happened. */
  async cleanup(): Promise<void> {
    clearInterval(this.#rssTimer);
    for (const child of [...this.heralds, ...this.landers]) {
      try {
        child.child.kill("SIGKILL");
      } catch { /* already exited */ }
      await child.status;
    }
    if (this.dir) {
      await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    }
  }
}

/** The oids whose count in `lake` is not their count in `topic`: "oid: 1 in Kafka, 2 in the lake". */
function countsDiffer(topic: Counts, lake: Counts): string[] {
  const differ: string[] = [];
  for (const oid of new Set([...topic.keys(), ...lake.keys()])) {
    const [k, l] = [topic.get(oid) ?? 0, lake.get(oid) ?? 0];
    if (k !== l) differ.push(`${oid}: ${k} in Kafka, ${l} in the lake`);
  }
  return differ;
}

/** The 99th percentile of the answers' latency in ms, 0 for none. */
function p99(outcomes: readonly Outcome[]): number {
  const latency = new LatencyRecorder();
  for (const o of outcomes) latency.record(o.ms);
  return latency.count === 0 ? 0 : Math.round(latency.percentile(99));
}

/** The result of a drill that threw `error`: a failure, with the notes taken so far. */
export function failed(
  name: string,
  started: number,
  error: unknown,
  notes: string[] = [],
): DrillResult {
  return {
    name,
    notRun: null,
    counts: { sent: 0, ok: 0, unavailable: 0, other: 0 },
    sinks: {},
    missing: 0,
    duplicated: 0,
    p99Ms: 0,
    unacknowledgedStored: 0,
    failures: [`drill aborted: ${error instanceof Error ? error.stack ?? error.message : error}`],
    notes,
    ok: false,
    ms: Date.now() - started,
  };
}

/** Runs `body` with a fresh {@linkcode Run}, turning a throw into a failed result. */
export async function drill(
  name: string,
  ctx: DrillContext,
  body: (run: Run) => Promise<DrillResult>,
): Promise<DrillResult> {
  const run = new Run(name, ctx);
  try {
    return await body(run);
  } catch (error) {
    return failed(name, run.started, error, run.notes);
  } finally {
    await run.cleanup();
  }
}

/** `ms` as seconds, for notes: "1.5 s". */
export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

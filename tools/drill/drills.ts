/**
 * The fault drills: each one runs Herald under load, breaks something (the
 * process, the broker, the disk), repairs it, stops Herald and asks the oracle
 * whether every acknowledged request is in every sink exactly once.
 *
 * @module
 */
import { type KafkaBroker, startKafka } from "../kafka/node.ts";
import { type KafkaCluster, SESSION_TIMEOUT_MS, startKafkaCluster } from "../kafka/cluster.ts";
import { drillConfig, type Herald, rssBytes, startHerald, waitReady } from "./herald.ts";
import { countOutcomes, type LoadCounts, type Outcome, sleep, startLoad, waitFor } from "./load.ts";
import {
  checkParquetFiles,
  checkSink,
  type Counts,
  kafkaCounts,
  lakeCounts,
  type SinkCheck,
  stdoutCounts,
} from "./oracle.ts";

/** The broker the drills share; a drill that restarts it replaces `current`. */
export interface SharedBroker {
  current: KafkaBroker;
}

/** What every drill gets. */
export interface DrillContext {
  /** Length of a load phase, in seconds (the drills scale their phases from it). */
  seconds: number;
  /** The shared broker, started on first use. */
  broker(): Promise<SharedBroker>;
  /** The shared 3-node cluster, started on first use. */
  cluster(): Promise<KafkaCluster>;
  /** Progress lines (stderr in the task). */
  log(message: string): void;
}

/** One drill's outcome. */
export interface DrillResult {
  name: string;
  /** Null when the drill ran; otherwise why it could not run here (never a pass). */
  notRun: string | null;
  counts: LoadCounts;
  /** Per sink checked: "kafka", "lake", "stdout". */
  sinks: Record<string, SinkCheck>;
  /** Obligations missing from at least one sink. */
  missing: number;
  /** Obligations stored twice in some sink. */
  duplicated: number;
  /** 99th percentile of the answers' latency, in ms. */
  p99Ms: number;
  /** Oids stored in some sink although the client got no 2xx (allowed: at-least-once). */
  unacknowledgedStored: number;
  /** Failed assertions, each a sentence. */
  failures: string[];
  /** Drill-specific measurements. */
  notes: string[];
  ok: boolean;
  ms: number;
}

/** A drill. */
export type Drill = (ctx: DrillContext) => Promise<DrillResult>;

const MB = 1024 * 1024;

/** How a drill starts Herald. */
interface StartOptions {
  keepStdout?: boolean;
  /** Bootstrap brokers (default: the shared single broker when the sinks include kafka). */
  brokers?: string;
}

/** Everything a drill sets up and must tear down, and the shared bookkeeping. */
class Run {
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

  /** SIGTERMs the current Herald and records a failure unless it exits 0. */
  async stopClean(): Promise<{ code: number; ms: number }> {
    const herald = this.herald!;
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
    this.herald = null;
    return { code: status.code, ms };
  }

  /** Asks the oracle: every obligation in every sink exactly once. */
  async verdict(
    outcomes: readonly Outcome[],
    sources: { kafka?: boolean; lake?: boolean; stdout?: string },
  ): Promise<DrillResult> {
    const obligations = new Set(
      outcomes.filter((o) => o.status >= 200 && o.status <= 299).map((o) => o.oid),
    );
    const sinks: Record<string, SinkCheck> = {};
    const stored = new Set<string>();
    const add = (name: string, counts: Counts) => {
      sinks[name] = checkSink(obligations, counts);
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
      p99Ms: percentile(outcomes.map((o) => o.ms), 0.99),
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
    for (const herald of this.heralds) {
      try {
        herald.child.kill("SIGKILL");
      } catch { /* already exited */ }
      await herald.status;
    }
    if (this.dir) {
      await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    }
  }
}

/** The `q` quantile (0..1) of `values`, 0 for none. */
function percentile(values: number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function failed(name: string, started: number, error: unknown, notes: string[] = []): DrillResult {
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
async function drill(
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

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** kill -9 Herald 5 times under load, restarting it on the same lake and broker. */
export const heraldKill9: Drill = (ctx) =>
  drill("herald-kill9", ctx, async (run) => {
    await run.setup();
    const sinks = "kafka,parquet";
    let herald = await run.start(sinks);
    const load = startLoad({ prefix: "herald-kill9", url: () => run.herald?.url ?? herald.url });
    const roundMs = Math.max(1000, Math.min(2000, (ctx.seconds * 1000) / 4));
    let replayed = 0;
    for (let kill = 1; kill <= 5; kill++) {
      await sleep(roundMs);
      await herald.stop("SIGKILL");
      herald = await run.start(sinks);
      const line = herald.stderr().split("\n").find((l) =>
        l.includes("replayed the write-ahead log")
      );
      if (line) replayed += Number(JSON.parse(line).events);
      run.log(`kill -9 #${kill}: restarted`);
    }
    await sleep(roundMs);
    const outcomes = await load.stop();
    await run.stopClean();
    run.notes.push(`5 kills, every ${seconds(roundMs)}; ${replayed} events replayed from the log`);
    return run.verdict(outcomes, { kafka: true, lake: true });
  });

/** SIGKILL the broker under load, restart it, Herald recovers by itself. */
export const brokerKill9: Drill = (ctx) =>
  drill("broker-kill9", ctx, async (run) => {
    await run.setup();
    const shared = await ctx.broker();
    const herald = await run.startReady("kafka,parquet");
    const load = startLoad({ prefix: "broker-kill9", url: () => herald.url });
    const phaseMs = Math.max(1500, (ctx.seconds * 1000) / 2);
    await sleep(phaseMs);
    const old = shared.current;
    await old.kill("SIGKILL");
    const killedAt = Date.now();
    run.log("broker killed");
    await sleep(Math.max(2000, phaseMs));
    shared.current = await startKafka({
      dir: old.dir,
      port: old.port,
      controllerPort: old.controllerPort,
    });
    const restartedAt = Date.now();
    run.log(`broker restarted in ${seconds(restartedAt - killedAt)}`);
    const ready = await waitReady(herald.url, 60_000);
    const readyAt = Date.now();
    run.check(ready, "Herald's /readyz never said 200 again after the broker came back");
    const resumed = await waitFor(
      () => load.outcomes.some((o) => o.sentAt > restartedAt && o.status === 200),
      30_000,
    );
    run.check(resumed, "no 2xx after the broker came back (without restarting Herald)");
    await sleep(1000);
    const outcomes = await load.stop();
    run.check(herald.child.pid === run.herald?.pid, "Herald was restarted");
    const during = outcomes.filter((o) => o.sentAt > killedAt + 500 && o.sentAt < restartedAt);
    run.check(
      during.some((o) => o.status === 503),
      "no 503 while the broker was down",
    );
    run.check(
      during.every((o) => o.status !== 200),
      `${during.filter((o) => o.status === 200).length} requests got 2xx while the broker was down`,
    );
    await run.stopClean();
    run.notes.push(
      `broker down ${seconds(restartedAt - killedAt)}; ready ${
        seconds(readyAt - restartedAt)
      } after restart`,
    );
    return run.verdict(outcomes, { kafka: true, lake: true });
  });

/** SIGSTOP the broker past Kafka's timeout: fast 503s, bounded memory, recovery on SIGCONT. */
export const brokerStop: Drill = (ctx) =>
  drill("broker-stop", ctx, async (run) => {
    await run.setup();
    const shared = await ctx.broker();
    const herald = await run.startReady("kafka,parquet");
    run.sampleRss();
    const load = startLoad({ prefix: "broker-stop", url: () => herald.url });
    const ack = run.ackTimeoutMs;
    const kafkaTimeout = Number(run.config.kafka!.timeout_ms);
    const stopMs = Math.max(kafkaTimeout * 3, 6000);
    await sleep(Math.max(1000, (ctx.seconds * 1000) / 3));
    const pid = shared.current.pid;
    let stopped = false;
    let stopAt = 0, contAt = 0;
    try {
      Deno.kill(pid, "SIGSTOP");
      stopped = true;
      stopAt = Date.now();
      run.log(`broker stopped for ${seconds(stopMs)}`);
      await sleep(stopMs);
    } finally {
      if (stopped) Deno.kill(pid, "SIGCONT");
      contAt = Date.now();
    }
    const resumed = await waitFor(
      () => load.outcomes.some((o) => o.sentAt > contAt && o.status === 200),
      30_000,
    );
    const resumedAt = Date.now();
    run.check(resumed, "no 2xx within 30 s of SIGCONT (without restarting Herald)");
    await sleep(1000);
    const outcomes = await load.stop();
    const limit = ack + 1000;
    const answeredAt = (o: Outcome) => o.sentAt + o.ms;
    // Answered while stopped (a little after SIGSTOP, so no answer already on
    // its way counts): each must be a 503, within the limit.
    const answered = outcomes.filter((o) =>
      answeredAt(o) >= stopAt + 200 && answeredAt(o) <= contAt
    );
    // In flight or sent while stopped, early enough that the answer was due
    // before SIGCONT: none may take longer than the limit.
    const due = outcomes.filter((o) => o.sentAt >= stopAt - limit && o.sentAt <= contAt - limit);
    const maxLatency = Math.max(0, ...answered.map((o) => o.ms), ...due.map((o) => o.ms));
    run.check(answered.length > 0, "no request was answered while the broker was stopped");
    const not503 = answered.filter((o) => o.status !== 503);
    run.check(
      not503.length === 0,
      `${not503.length} requests answered while the broker was stopped got ${
        [...new Set(not503.map((o) => o.status))].join("/")
      }, not 503`,
    );
    run.check(
      maxLatency <= limit,
      `a request took ${maxLatency} ms while the broker was stopped (limit ${limit} ms)`,
    );
    const fast = answered.filter((o) => o.ms < kafkaTimeout).length;
    // Once the sink has seen no ack for kafka.timeout_ms it refuses at once:
    // later requests must not wait for the ack timeout.
    const late = answered.filter((o) => o.sentAt > stopAt + kafkaTimeout + 500);
    const slowLate = late.filter((o) => o.ms > 1000);
    run.check(
      late.length > 0 && slowLate.length === 0,
      `${slowLate.length} of ${late.length} requests sent after kafka.timeout_ms of silence ` +
        `waited over 1 s for their 503`,
    );
    run.check(run.maxRss > 0, "Herald's RSS could not be read");
    run.check(run.maxRss < 400 * MB, `Herald's RSS reached ${(run.maxRss / MB).toFixed(0)} MB`);
    await run.stopClean();
    run.notes.push(
      `stopped ${seconds(stopMs)}: ${answered.length} answered (all 503: ${
        not503.length === 0
      }; ${fast} faster than kafka.timeout_ms), max latency ${maxLatency} ms ` +
        `(limit ${limit}); max RSS ${(run.maxRss / MB).toFixed(0)} MB; ` +
        `2xx ${seconds(resumedAt - contAt)} after SIGCONT`,
    );
    return run.verdict(outcomes, { kafka: true, lake: true });
  });

async function mountTmpfs(dir: string, size: string): Promise<string | null> {
  if (Deno.build.os !== "linux") return `tmpfs mounts need Linux (this is ${Deno.build.os})`;
  try {
    const out = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (out.success) return null;
    return `mount -t tmpfs failed: ${new TextDecoder().decode(out.stderr).trim()}`;
  } catch (error) {
    return `mount -t tmpfs failed: ${(error as Error).message}`;
  }
}

/**
 * Why a tmpfs cannot be mounted here (not Linux, not root), or null: tries a
 * mount and an unmount on a fresh folder.
 */
export async function tmpfsUnavailable(): Promise<string | null> {
  const dir = await Deno.makeTempDir({ prefix: "drill-probe-" });
  try {
    const why = await mountTmpfs(dir, "1m");
    if (why === null) await mountCommand(["umount", dir]);
    return why;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await Deno.remove(dir).catch(() => {});
  }
}

async function mountCommand(args: string[]): Promise<void> {
  const out = await new Deno.Command(args[0]!, { args: args.slice(1), stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

/** Random hex padding: random, so zstd cannot shrink it away. */
function padding(chars: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(chars / 2));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The lake on an 8 MB tmpfs: load until it is full (503s, no broken Parquet
 * file), then grow it and check Herald recovers without a restart. With
 * `crash`, Herald is then killed with -9 and restarted before the final stop,
 * so the write-ahead log written around the full disk is replayed.
 */
function diskFull(name: string, crash: boolean): Drill {
  return (ctx) =>
    drill(name, ctx, async (run) => {
      // Rolls by size only: the segment that hits the full disk is still the
      // current one when space comes back.
      await run.setup({ parquet: { roll_bytes: 2 * MB, roll_interval_ms: 60_000 } });
      const why = await mountTmpfs(run.lake, "8m");
      if (why) {
        if (Deno.env.get("CI") === "true") throw new Error(`cannot run under CI: ${why}`);
        return { ...failed(name, run.started, why), failures: [], notRun: why };
      }
      try {
        return await diskFullBody(run, crash);
      } finally {
        await run.cleanup(); // Herald first: the mount is busy while it runs
        await mountCommand(["umount", "-l", run.lake]).catch(() => {});
      }
    });
}

async function diskFullBody(run: Run, crash: boolean): Promise<DrillResult> {
  const sinks = "kafka,parquet";
  let herald = await run.startReady(sinks);
  const load = startLoad({
    prefix: run.name,
    url: () => run.herald?.url ?? null,
    extra: () => `&pad=${padding(2000)}`,
  });
  // Full: the last 100 answers are all refusals.
  const full = await waitFor(() => {
    const tail = load.outcomes.slice(-100);
    return tail.length === 100 && tail.every((o) => o.status !== 200) &&
      tail.some((o) => o.status === 503);
  }, 60_000);
  if (!full) throw new Error("the lake never filled up within 60 s");
  const fullAt = Date.now();
  run.log(`lake full after ${load.outcomes.length} requests`);
  await sleep(1500);
  const whileFull = await checkParquetFiles(run.lake);
  run.check(
    whileFull.unreadable.length === 0,
    `while full, unreadable Parquet files: ${whileFull.unreadable.join("; ")}`,
  );
  const ready = await fetch(`${herald.url}/readyz`);
  const readiness = await ready.json();
  run.check(ready.status === 503, `/readyz answered ${ready.status} while the lake was full`);
  run.check(
    /Cannot write/.test(readiness.sinks?.parquet?.detail ?? ""),
    `/readyz does not name the full lake: ${JSON.stringify(readiness.sinks?.parquet)}`,
  );
  const metrics = await (await fetch(`${herald.url}/metrics`)).text();
  const logErrors = Number(
    metrics.match(/herald_sink_errors_total\{sink="parquet",kind="log_write"\} (\d+)/)?.[1] ?? 0,
  );
  run.check(logErrors > 0, "herald_sink_errors_total counted no log_write error while full");
  const fullOutcomes = load.outcomes.filter((o) => o.sentAt > fullAt);
  const fullCounts = countOutcomes(fullOutcomes);
  run.check(fullCounts.other === 0, `${fullCounts.other} answers other than 2xx/503 while full`);
  await mountCommand(["mount", "-o", "remount,size=64m", run.lake]);
  const freedAt = Date.now();
  run.log("lake grown to 64 MB");
  const recovered = await waitFor(
    () => load.outcomes.some((o) => o.sentAt > freedAt && o.status === 200),
    30_000,
  );
  const recoveredAt = Date.now();
  run.check(recovered, "no 2xx within 30 s of freeing space (without restarting Herald)");
  run.check(await waitReady(herald.url, 5000), "/readyz not 200 within 5 s of the first 2xx");
  let replayed = "";
  if (crash) {
    // Kill at once, while the segment that met the full disk is still the log.
    const wal = await walLines(`${run.lake}/_wal`);
    run.notes.push(
      `log before kill -9: ${wal.segments} segment(s), ${wal.corrupt} corrupt line(s) inside`,
    );
    await herald.stop("SIGKILL");
    herald = await run.start(sinks);
    const line = herald.stderr().split("\n").find((l) =>
      l.includes("replayed the write-ahead log")
    );
    replayed = line ? `; replayed ${JSON.parse(line).events} events` : "; nothing replayed";
    const corrupt = herald.stderr().split("\n").filter((l) => l.includes("corrupt")).length;
    if (corrupt > 0) {
      run.check(false, `the replay skipped ${corrupt} corrupt write-ahead log line(s)`);
    }
    await waitReady(herald.url);
    await sleep(1000);
  } else await sleep(1000);
  const outcomes = await load.stop();
  await run.stopClean();
  run.notes.push(
    `full after ${seconds(fullAt - run.started)}: ${fullCounts.unavailable} 503 while full, ` +
      `${logErrors} log write errors counted, ` +
      `${whileFull.tmpFiles} tmp files; 2xx ${seconds(recoveredAt - freedAt)} after freeing${
        crash ? `; kill -9 after recovery${replayed}` : ""
      }`,
  );
  return run.verdict(outcomes, { kafka: true, lake: true });
}

/** Log segments in `dir` and their lines that are not JSON, the last line of each excepted. */
async function walLines(dir: string): Promise<{ segments: number; corrupt: number }> {
  let segments = 0, corrupt = 0;
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.name.endsWith(".wal")) continue;
    segments++;
    const lines = (await Deno.readTextFile(`${dir}/${entry.name}`)).split("\n");
    lines.slice(0, -1).forEach((line) => {
      try {
        JSON.parse(line);
      } catch {
        corrupt++;
      }
    });
  }
  return { segments, corrupt };
}

/** Disk full, space freed, SIGTERM. */
export const diskFullDrill: Drill = diskFull("disk-full", false);
/** Disk full, space freed, kill -9 and restart, SIGTERM. */
export const diskFullCrashDrill: Drill = diskFull("disk-full-kill9", true);

/** SIGTERM under load: drains in time, every 2xx once in stdout, Kafka and the lake. */
export const sigterm: Drill = (ctx) =>
  drill("sigterm", ctx, async (run) => {
    await run.setup();
    const herald = await run.startReady("stdout,kafka,parquet", { keepStdout: true });
    const load = startLoad({ prefix: "sigterm", url: () => herald.url });
    await sleep(Math.max(1500, ctx.seconds * 1000));
    const { code, ms } = await run.stopClean();
    const outcomes = await load.stop();
    const budget = Number(run.config.server!.shutdown_timeout_ms);
    const margin = 3000;
    run.check(ms <= budget + margin, `drain took ${ms} ms (budget ${budget} + ${margin} ms)`);
    run.notes.push(`drain ${ms} ms (budget ${budget} + ${margin}), exit ${code}`);
    return run.verdict(outcomes, { kafka: true, lake: true, stdout: herald.stdout() });
  });

/**
 * The cluster drills run Herald's defaults for a cluster: `ack_timeout_ms`
 * 5000 (longer than a failover), a topic of 3 partitions with 3 replicas
 * and `min.insync.replicas` 2.
 */
const CLUSTER_OVERRIDES = { server: { ack_timeout_ms: 5000 } };

/** What a cluster drill measures around the fault at `faultAt`. */
function faultNotes(run: Run, outcomes: readonly Outcome[], faultAt: number): void {
  const counts = countOutcomes(outcomes);
  const share = counts.sent === 0 ? 0 : counts.unavailable / counts.sent;
  const after = outcomes.filter((o) => o.sentAt >= faultAt && o.status === 200);
  const first = after.length === 0
    ? Infinity
    : Math.min(...after.map((o) => o.sentAt + o.ms)) - faultAt;
  const slowest = Math.max(0, ...outcomes.filter((o) => o.status === 200).map((o) => o.ms));
  run.check(Number.isFinite(first), "no 2xx after the fault");
  run.check(
    share <= 0.01,
    `${counts.unavailable} of ${counts.sent} answers were 503 (${
      (share * 100).toFixed(2)
    }%, limit 1%)`,
  );
  run.check(counts.other === 0, `${counts.other} answers other than 2xx/503`);
  run.notes.push(
    `503: ${counts.unavailable} (${(share * 100).toFixed(2)}%); first 2xx ${first} ms after ` +
      `the fault; slowest 2xx ${slowest} ms`,
  );
}

/**
 * SIGKILL a node of the 3-node cluster under load (a partition leader that
 * is not the controller, or the active controller), restart it on its data:
 * every 2xx in Kafka once.
 */
function clusterKill(name: string, victim: "leader" | "controller"): Drill {
  return (ctx) =>
    drill(name, ctx, async (run) => {
      await run.setup(CLUSTER_OVERRIDES);
      const cluster = await ctx.cluster();
      const herald = await run.startReady("kafka", { brokers: cluster.brokers });
      const load = startLoad({ prefix: name, url: () => herald.url, concurrency: 16 });
      const phaseMs = Math.max(1500, (ctx.seconds * 1000) / 2);
      await sleep(phaseMs);
      const leaders = await cluster.leaders(run.topic);
      const id = victim === "leader"
        ? await plainLeader(cluster, run.topic)
        : await cluster.activeController();
      const led = leaders.flatMap((leader, partition) => leader === id ? [partition] : []);
      await cluster.kill(id, "SIGKILL");
      const killedAt = Date.now();
      run.log(`node ${id} killed (${victim}; led partitions ${led.join(", ") || "none"})`);
      await sleep(Math.max(SESSION_TIMEOUT_MS + 3000, phaseMs));
      await cluster.restart(id);
      const restartedAt = Date.now();
      run.log(`node ${id} restarted`);
      await sleep(phaseMs);
      const outcomes = await load.stop();
      await run.stopClean();
      faultNotes(run, outcomes, killedAt);
      run.notes.push(
        `node ${id} (${victim}, led partitions ${led.join(", ") || "none"}) down ` +
          `${seconds(restartedAt - killedAt)}`,
      );
      return run.verdict(outcomes, { kafka: true });
    });
}

/**
 * A partition leader that is not the active controller (each drill's topic
 * is new, so its partitions are spread over every node): killing or
 * stopping it tests a leader's failover alone.
 */
async function plainLeader(cluster: KafkaCluster, topic: string): Promise<number> {
  const controller = await cluster.activeController();
  const leader = (await cluster.leaders(topic)).find((id) => id !== controller);
  if (leader === undefined) {
    throw new Error(`every partition of "${topic}" is led by the controller`);
  }
  return leader;
}

/**
 * SIGSTOP a partition leader past `kafka.timeout_ms`, then SIGCONT: the
 * first bootstrap broker when it leads a partition (the client refreshes
 * metadata from it during Produce retries, so the sink must move the hung
 * partition to another producer), and never the active controller, whose
 * hang is a failover of its own.
 */
export const clusterBrokerStop: Drill = (ctx) =>
  drill("cluster-broker-stop", ctx, async (run) => {
    await run.setup(CLUSTER_OVERRIDES);
    const cluster = await ctx.cluster();
    // Herald's first bootstrap broker is a node that is not the controller:
    // the hardest case to stop, since the client refreshes metadata from it
    // during Produce retries.
    const controller = await cluster.activeController();
    const first = Array.from({ length: cluster.size }, (_, i) => i + 1)
      .find((n) => n !== controller)!;
    const others = Array.from({ length: cluster.size }, (_, i) => i + 1).filter((n) => n !== first);
    const brokers = [first, ...others].map((n) => `127.0.0.1:${cluster.portOf(n)}`).join(",");
    const herald = await run.startReady("kafka", { brokers });
    const load = startLoad({
      prefix: "cluster-broker-stop",
      url: () => herald.url,
      concurrency: 16,
    });
    const kafkaTimeout = Number(run.config.kafka!.timeout_ms);
    const stopMs = Math.max(kafkaTimeout * 3, 6000);
    // Long phases around the hang: the requests in flight when it starts (at most one per
    // client) get 503, and the 1% bound is over everything the drill sends.
    await sleep(Math.max(3000, (ctx.seconds * 1000) / 2));
    const leaders = await cluster.leaders(run.topic);
    const id = leaders.includes(first) ? first : await plainLeader(cluster, run.topic);
    const pid = await cluster.pidOf(id);
    if (pid === null) throw new Error(`node ${id} of the cluster is not running`);
    let stopped = false;
    let stoppedAt = 0;
    try {
      Deno.kill(pid, "SIGSTOP");
      stopped = true;
      stoppedAt = Date.now();
      run.log(`node ${id} stopped for ${seconds(stopMs)}`);
      await sleep(stopMs);
    } finally {
      if (stopped) Deno.kill(pid, "SIGCONT");
    }
    await sleep(Math.max(6000, ctx.seconds * 1000));
    const outcomes = await load.stop();
    await run.stopClean();
    faultNotes(run, outcomes, stoppedAt);
    run.notes.push(
      `node ${id} (a partition leader, not the controller${
        id === first ? ", the first bootstrap broker" : ""
      }) stopped ${seconds(stopMs)}`,
    );
    return run.verdict(outcomes, { kafka: true });
  });

/** Every drill, by name, in the order the task runs them. */
export const DRILLS: Record<string, Drill> = {
  "herald-kill9": heraldKill9,
  "broker-kill9": brokerKill9,
  "broker-stop": brokerStop,
  "disk-full": diskFullDrill,
  "disk-full-kill9": diskFullCrashDrill,
  "sigterm": sigterm,
  "cluster-leader-kill9": clusterKill("cluster-leader-kill9", "leader"),
  "cluster-controller-kill9": clusterKill("cluster-controller-kill9", "controller"),
  "cluster-broker-stop": clusterBrokerStop,
};

/** A drill context whose broker is started on first use; `close` stops and removes it. */
export function drillContext(
  options: { seconds: number; log?: (message: string) => void },
): DrillContext & { close(): Promise<void> } {
  let shared: Promise<SharedBroker> | null = null;
  let cluster: Promise<KafkaCluster> | null = null;
  return {
    seconds: options.seconds,
    log: options.log ?? ((m: string) => console.error(m)),
    broker: () => shared ??= startKafka().then((current) => ({ current })),
    cluster: () => cluster ??= startKafkaCluster({ nodes: 3 }),
    async close() {
      const nodes = await cluster?.catch(() => null);
      if (nodes) {
        for (let id = 1; id <= nodes.size; id++) {
          const pid = await nodes.pidOf(id);
          try {
            if (pid !== null) Deno.kill(pid, "SIGCONT"); // in case a drill died with it stopped
          } catch { /* gone */ }
        }
        await nodes.stop();
        await Deno.remove(nodes.dir, { recursive: true }).catch(() => {});
      }
      const broker = await shared?.catch(() => null);
      if (!broker) return;
      try {
        Deno.kill(broker.current.pid, "SIGCONT"); // in case a drill died with it stopped
      } catch { /* gone */ }
      await broker.current.stop();
      await Deno.remove(broker.current.dir, { recursive: true }).catch(() => {});
    },
  };
}

/** Runs `names` in order against one shared broker, stopped and removed at the end. */
export async function runDrills(
  names: string[],
  options: { seconds: number; log?: (message: string) => void },
): Promise<DrillResult[]> {
  const ctx = drillContext(options);
  const results: DrillResult[] = [];
  try {
    for (const name of names) {
      const drill = DRILLS[name];
      if (!drill) {
        throw new Error(`Unknown drill "${name}": one of ${Object.keys(DRILLS).join(", ")}`);
      }
      ctx.log(`[${name}] running`);
      results.push(await drill(ctx));
    }
  } finally {
    await ctx.close();
  }
  return results;
}

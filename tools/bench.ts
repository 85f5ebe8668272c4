/**
 * `deno task bench`: one command, one run, one machine. It starts every target
 * itself, drives each with the project's own load generator
 * (`tools/load.ts`) and stops it, then writes `BENCHMARKS.md` and
 * `BENCHMARKS.png`:
 *
 * - `ceiling`: a bare `Deno.serve` answering a constant string;
 * - `stdout`, `parquet`, `kafka`: Herald with that one sink (stdout to
 *   `/dev/null`, a temp lake, a local broker from `tools/kafka.ts`);
 * - `batch`: Herald's `POST /events`, 100 events per request, into Kafka;
 * - `seeds`: the seeds' Flask + kafka-python app, on the same broker.
 *
 * Per target: 2xx requests/s and events/s in a closed loop at one concurrency,
 * p50/p99 in an open loop at half of that target's own max rate, peak RSS and
 * CPU of the server process from `/proc`, and the time from spawn to the first
 * 2xx. Missed targets print FAIL but never fail the command.
 *
 * ```sh
 * deno task bench                          # full run, writes BENCHMARKS.md
 * deno task bench --quick                  # smoke run, writes a temp file
 * deno task bench --only ceiling,stdout --duration 5 --out /tmp/b.md
 * ```
 *
 * @module
 */
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type LoadSummary, runLoad } from "./load/mod.ts";
import { startKafka } from "./kafka/node.ts";
import { profileBatchStages, renderStages, STAGES_NOTE } from "./bench/stages.ts";
import {
  LANDER_NOTE,
  type LanderMeasurement,
  measureLander,
  renderLander,
} from "./bench/lander.ts";
import { encodePng } from "./bench/png.ts";
import {
  formatCount,
  formatMs,
  formatTable,
  formatVerdict,
  formatWall,
  type Measurement,
  type PacedMeasurement,
  renderChart,
  renderMarkdown,
  type RunFacts,
  type TargetKind,
  type TargetResult,
  verdicts,
} from "./bench/report.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const CONFIG = join(ROOT, "config", "gateway.yaml");
const PYTHON = "/usr/bin/python3";
const APT_HINT = "sudo apt-get install -y python3-flask python3-kafka";

/** Every target, in the order they run. */
export const TARGET_IDS = ["ceiling", "stdout", "parquet", "kafka", "batch", "seeds"] as const;
/** One of {@linkcode TARGET_IDS}. */
export type TargetId = typeof TARGET_IDS[number];

/** Events per request on the batch route. */
export const BATCH_SIZE = 100;

/** The bench's options after parsing flags. */
export interface BenchOptions {
  quick: boolean;
  /** Markdown output path; null means the default for the mode. */
  out: string | null;
  /** Seconds per measurement. */
  durationS: number;
  /** Seconds of warm-up load before each closed-loop measurement. */
  warmupS: number;
  concurrency: number;
  only: TargetId[];
}

/** The usage text of `deno task bench`. */
export const USAGE = `Usage: deno task bench [flags]

Starts each target, loads it with tools/load.ts (GET /purchase_a_sword, or
POST /events with ${BATCH_SIZE} events for the batch route), stops it, and writes a
table with PASS/FAIL against the targets plus a PNG chart.

  --quick             a few seconds per measurement (CI smoke run); writes to a
                      temp file unless --out is given
  --out <file>        Markdown output (default BENCHMARKS.md at the repo root);
                      the chart goes beside it, same name with .png
  --duration <s>      seconds per measurement (default 12, quick 3)
  --concurrency <n>   closed-loop connections (default 50)
  --only a,b          targets: ${TARGET_IDS.join(", ")}
  --help              this text`;

/** A bad flag; the CLI prints it with the usage and exits 2. */
export class BenchUsageError extends Error {
  override name = "BenchUsageError";
}

/** Parses the bench's flags; throws {@linkcode BenchUsageError} on a bad one. */
export function parseBenchArgs(args: string[]): BenchOptions | "help" {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        quick: { type: "boolean", default: false },
        out: { type: "string" },
        duration: { type: "string" },
        concurrency: { type: "string" },
        only: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new BenchUsageError((error as Error).message);
  }
  if (values.help) return "help";
  const quick = values.quick;
  const number = (flag: string, text: string | undefined, fallback: number, integer: boolean) => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (text.trim() === "" || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
      throw new BenchUsageError(
        `Invalid --${flag} "${text}": expected a positive ${integer ? "integer" : "number"}`,
      );
    }
    return n;
  };
  const durationS = number("duration", values.duration, quick ? 3 : 12, false);
  const concurrency = number("concurrency", values.concurrency, 50, true);
  let only: TargetId[] = [...TARGET_IDS];
  if (values.only !== undefined) {
    const names = values.only.split(",").map((s) => s.trim()).filter(Boolean);
    for (const name of names) {
      if (!(TARGET_IDS as readonly string[]).includes(name)) {
        throw new BenchUsageError(
          `Unknown target "${name}" in --only (expected some of ${TARGET_IDS.join(", ")})`,
        );
      }
    }
    if (names.length === 0) throw new BenchUsageError("The --only list names no target");
    only = TARGET_IDS.filter((id) => names.includes(id));
  }
  return {
    quick,
    out: values.out ?? null,
    durationS,
    warmupS: quick ? 1 : 3,
    concurrency,
    only,
  };
}

// ---------------------------------------------------------------- processes

const log = (line: string) => console.error(line);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `deno run <permissions> main.ts`, taken from the serve task so the two cannot drift. */
async function serveArgs(): Promise<string[]> {
  const denoJson = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  return (denoJson.tasks.serve as string).split(" ").slice(1);
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Status code of `GET path` on a fresh connection that the server closes, or null. */
async function rawGet(port: number, path: string): Promise<number | null> {
  let conn: Deno.TcpConn | null = null;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(
      new TextEncoder().encode(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
      ),
    );
    const buf = new Uint8Array(64);
    let got = 0;
    while (got < 12) {
      const n = await conn.read(buf.subarray(got));
      if (n === null) return null;
      got += n;
    }
    const match = /^HTTP\/1\.[01] (\d{3})/.exec(new TextDecoder().decode(buf.subarray(0, got)));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  } finally {
    try {
      conn?.close();
    } catch { /* already closed */ }
  }
}

/** A server the bench spawned. */
interface Server {
  child: Deno.ChildProcess;
  pid: number;
  port: number;
  /** Milliseconds from spawn to the first 2xx on `GET /`. */
  startMs: number;
  /** The last lines the process wrote to stderr. */
  stderrTail(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
}

/** Keeps the last `max` characters of a stream, draining it so the process never blocks. */
function drainTail(stream: ReadableStream<Uint8Array>, max = 8192): () => string {
  let tail = "";
  stream.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({
      write(text) {
        tail = (tail + text).slice(-max);
      },
    }),
  ).catch(() => {});
  return () => tail;
}

const running = new Set<Server>();

/** Spawns a server, then polls `GET /` until it answers 2xx (the start time). */
async function spawnServer(
  label: string,
  cmd: string,
  args: string[],
  env: Record<string, string>,
  port: number,
  timeoutMs: number,
): Promise<Server> {
  const started = performance.now();
  const child = new Deno.Command(cmd, {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderrTail = drainTail(child.stderr);
  let exited: Deno.CommandStatus | null = null;
  const status = child.status.then((s) => (exited = s));
  const server: Server = {
    child,
    pid: child.pid,
    port,
    startMs: 0,
    stderrTail,
    async stop(graceMs = 20_000) {
      running.delete(server);
      if (exited) return;
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      const done = await Promise.race([status.then(() => true), sleep(graceMs).then(() => false)]);
      if (!done) {
        log(`  pid ${child.pid} still running ${graceMs} ms after SIGTERM: sending SIGKILL`);
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
        await status;
      }
    },
  };
  running.add(server);
  for (;;) {
    const code = await rawGet(port, "/");
    if (code !== null && code >= 200 && code < 300) break;
    if (exited) {
      running.delete(server);
      throw new Error(
        `${label} exited with code ${(exited as Deno.CommandStatus).code} before answering 2xx:\n` +
          stderrTail().trimEnd(),
      );
    }
    if (performance.now() - started > timeoutMs) {
      await server.stop(2000);
      throw new Error(
        `${label} did not answer 2xx on port ${port} within ${timeoutMs} ms:\n` +
          stderrTail().trimEnd(),
      );
    }
    await sleep(5);
  }
  server.startMs = performance.now() - started;
  return server;
}

// ---------------------------------------------------------------- /proc sampling

const CLOCK_TICKS = 100;

/** Resident set (VmRSS) and its high-water mark (VmHWM) in bytes, or null off Linux. */
function readMemory(pid: number): { rss: number; hwm: number } | null {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/status`);
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1]);
    const rss = kb("VmRSS") * 1024;
    const hwm = kb("VmHWM") * 1024;
    return Number.isFinite(rss) && Number.isFinite(hwm) ? { rss, hwm } : null;
  } catch {
    return null;
  }
}

/** CPU seconds (user + system) the process used so far, or null off Linux. */
function readCpuSeconds(pid: number): number | null {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    // After the command name: state is field 3, utime 14 and stime 15 of stat(5).
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks / CLOCK_TICKS : null;
  } catch {
    return null;
  }
}

/** Polls VmRSS and VmHWM of `pid` every 100 ms; `peak()` is the largest seen, in bytes. */
function sampleMemory(pid: number): { peak(): number | null; stop(): void } {
  let peak: number | null = null;
  const take = () => {
    const m = readMemory(pid);
    if (m) peak = Math.max(peak ?? 0, m.rss, m.hwm);
  };
  take();
  const timer = setInterval(take, 100);
  return {
    peak() {
      take();
      return peak;
    },
    stop: () => clearInterval(timer),
  };
}

// ---------------------------------------------------------------- load

interface LoadPlan {
  url: string;
  batch: number;
  concurrency: number;
  durationMs: number;
  rate?: number;
  /** The target makes events (false for the ceiling). */
  events: boolean;
}

function measurementOf(summary: LoadSummary, plan: LoadPlan): Measurement {
  let ok = 0;
  for (const [code, n] of Object.entries(summary.status)) {
    if (Number(code) >= 200 && Number(code) < 300) ok += n;
  }
  const seconds = summary.duration_s > 0 ? summary.duration_s : plan.durationMs / 1000;
  return {
    requestsPerS: ok / seconds,
    eventsPerS: plan.events ? summary.events / seconds : null,
    requests: summary.requests,
    errors: summary.non_2xx + summary.errors,
    durationS: seconds,
    p50Ms: summary.latency_ms.p50,
    p99Ms: summary.latency_ms.p99,
  };
}

/** `"1,465 of 1,466 requests failed (503: 1,465)"`, or null when every answer was 2xx. */
function describeFailures(summary: LoadSummary): string | null {
  const failed = summary.non_2xx + summary.errors;
  if (failed === 0) return null;
  const kinds = [
    ...Object.entries(summary.status).filter(([code]) => !code.startsWith("2")),
    ...Object.entries(summary.error_kinds),
  ].map(([kind, n]) => `${kind}: ${formatCount(n)}`);
  return `${formatCount(failed)} of ${formatCount(summary.requests)} requests failed ` +
    `(${kinds.join(", ")})`;
}

/** The `err` of the last JSON log line that has one, from a server's stderr. */
function lastServerError(stderr: string): string | null {
  for (const line of stderr.trimEnd().split("\n").reverse()) {
    try {
      const parsed = JSON.parse(line);
      if (typeof parsed?.err === "string") return parsed.err;
      if (typeof parsed?.err?.message === "string") return parsed.err.message;
    } catch { /* not a JSON line */ }
  }
  return null;
}

function load(plan: LoadPlan, signal?: AbortSignal): Promise<LoadSummary> {
  return runLoad({
    signal,
    url: plan.url,
    config: CONFIG,
    mix: "purchase_a_sword",
    concurrency: plan.concurrency,
    durationMs: plan.durationMs,
    rate: plan.rate,
    batch: plan.batch > 1 ? plan.batch : undefined,
  });
}

// ---------------------------------------------------------------- targets

interface TargetSpec {
  id: TargetId;
  label: string;
  kind: TargetKind;
  batch: number;
  needsKafka: boolean;
  /** The command to spawn on `port`, or a reason to skip. */
  command(
    ctx: RunContext,
    port: number,
  ): Promise<{ cmd: string; args: string[]; env: Record<string, string> } | { skip: string }>;
}

interface RunContext {
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
): TargetSpec {
  return {
    id,
    label,
    kind: "herald",
    batch,
    needsKafka: sink === "kafka",
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
        args: [...ctx.serve, "--config", CONFIG, "--port", String(port), "--sinks", sink],
        env,
      };
    },
  };
}

/** Why the seeds' app cannot run here, or null. */
async function seedsProblem(): Promise<string | null> {
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

const TARGETS: readonly TargetSpec[] = [
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

async function measureTarget(
  spec: TargetSpec,
  ctx: RunContext,
  options: BenchOptions,
): Promise<TargetResult> {
  const result: TargetResult = {
    id: spec.id,
    label: spec.label,
    kind: spec.kind,
    eventsPerRequest: spec.batch,
  };
  const port = freePort();
  const command = await spec.command(ctx, port);
  if ("skip" in command) {
    result.skipped = command.skip;
    log(`${spec.id}: skipped: ${command.skip}`);
    return result;
  }
  log(`${spec.id}: starting ${spec.label}`);
  const began = performance.now();
  const server = await spawnServer(
    spec.label,
    command.cmd,
    command.args,
    command.env,
    port,
    60_000,
  );
  result.startMs = server.startMs;
  log(`${spec.id}: first 2xx ${Math.round(server.startMs)} ms after spawn (pid ${server.pid})`);
  const memory = sampleMemory(server.pid);
  try {
    const base = {
      url: `http://127.0.0.1:${port}`,
      batch: spec.batch,
      concurrency: options.concurrency,
      events: spec.kind !== "ceiling",
    };
    const measure = async (phase: string, plan: LoadPlan) => {
      const summary = await load(plan, ctx.abort.signal);
      if (ctx.abort.signal.aborted) throw new Error("Interrupted");
      const failures = describeFailures(summary);
      if (failures !== null) {
        const said = lastServerError(server.stderrTail());
        const line = `${spec.label}, ${phase}: ${failures}` +
          (said === null ? "" : `; the server said "${said}"`);
        log(`${spec.id}: ${line}`);
        ctx.notices.push(line);
      }
      return measurementOf(summary, plan);
    };
    await measure("warm-up", { ...base, durationMs: options.warmupS * 1000 });

    // CPU of every process on the request path: the server, the broker when
    // the target uses it, and the load tool (this process).
    const brokerPid = spec.needsKafka ? ctx.brokerPid : null;
    const cpuOf = () => ({
      server: readCpuSeconds(server.pid),
      broker: brokerPid === null ? null : readCpuSeconds(brokerPid),
      load: readCpuSeconds(Deno.pid),
    });
    const cpuBefore = cpuOf();
    const wallBefore = performance.now();
    const max = await measure("max rate", { ...base, durationMs: options.durationS * 1000 });
    const cpuAfter = cpuOf();
    const wallS = (performance.now() - wallBefore) / 1000;
    if (cpuBefore.server !== null && cpuAfter.server !== null) {
      result.cpuPercent = ((cpuAfter.server - cpuBefore.server) / wallS) * 100;
    }
    const units = max.eventsPerS ?? max.requestsPerS;
    const perUnit = (before: number | null, after: number | null) =>
      before === null || after === null || units <= 0
        ? undefined
        : ((after - before) / wallS / units) * 1e6;
    result.cpuUs = {
      server: perUnit(cpuBefore.server, cpuAfter.server),
      broker: perUnit(cpuBefore.broker, cpuAfter.broker),
      load: perUnit(cpuBefore.load, cpuAfter.load),
    };
    result.max = max;
    const peakAtMax = memory.peak();
    log(
      `${spec.id}: max ${formatCount(max.requestsPerS)} req/s` +
        (max.eventsPerS !== null ? `, ${formatCount(max.eventsPerS)} events/s` : "") +
        `, ${max.errors} errors, server CPU ${Math.round(result.cpuPercent ?? 0)}%`,
    );

    const rate = Math.floor(max.requestsPerS / 2);
    if (rate >= 1) {
      const plan = { ...base, durationMs: options.durationS * 1000, rate };
      const paced: PacedMeasurement = { ...(await measure("open loop", plan)), rate };
      result.paced = paced;
      log(
        `${spec.id}: open loop at ${formatCount(rate)} req/s: p50 ${formatMs(paced.p50Ms)} ms, ` +
          `p99 ${formatMs(paced.p99Ms)} ms`,
      );
    }
    const peak = memory.peak();
    if (peak !== null) {
      result.rssPeakMb = peak / 1e6;
      log(
        `${spec.id}: peak RSS ${Math.round(peak / 1e6)} MB ` +
          `(${Math.round((peakAtMax ?? 0) / 1e6)} MB by the end of the max-rate run)`,
      );
    }
  } finally {
    memory.stop();
    await server.stop();
  }
  log(`${spec.id}: done in ${formatWall((performance.now() - began) / 1000)}`);
  return result;
}

// ---------------------------------------------------------------- run

async function commandOutput(cmd: string, args: string[]): Promise<string | null> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
  } catch {
    return null;
  }
}

async function readLoadAverage(): Promise<string | null> {
  try {
    return (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  } catch {
    return null;
  }
}

async function cpuModel(): Promise<string | null> {
  try {
    const text = await Deno.readTextFile("/proc/cpuinfo");
    return /^model name\s*:\s*(.+)$/m.exec(text)?.[1]?.trim() ?? null;
  } catch {
    return null;
  }
}

function commandLine(args: string[]): string {
  const quoted = args.map((a) => /^[\w.,/=:-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`);
  const head = Deno.env.get("INIT_CWD") !== undefined
    ? "deno task bench"
    : "deno run --allow-all tools/bench.ts";
  return [head, ...quoted].join(" ");
}

async function removeQuietly(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch { /* already gone */ }
}

/** Runs the bench with `args`; resolves with the exit code. */
export async function main(args: string[]): Promise<number> {
  let options: BenchOptions;
  try {
    const parsed = parseBenchArgs(args);
    if (parsed === "help") {
      console.log(USAGE);
      return 0;
    }
    options = parsed;
  } catch (error) {
    if (!(error instanceof BenchUsageError)) throw error;
    console.error(`${error.message}\n\n${USAGE}`);
    return 2;
  }
  const wallStart = performance.now();
  const loadAverage = await readLoadAverage();
  const specs = TARGETS.filter((t) => options.only.includes(t.id));
  const notices: string[] = [];
  const ctx: RunContext = {
    serve: await serveArgs(),
    notices,
    abort: new AbortController(),
    brokers: null,
    brokerPid: null,
    kafkaProblem: null,
    tempDirs: [],
  };
  let broker: Awaited<ReturnType<typeof startKafka>> | null = null;
  let interrupted = false;

  const cleanOnce = async () => {
    for (const server of [...running]) await server.stop(5000);
    if (broker) {
      const b = broker;
      broker = null;
      log("Stopping the Kafka broker");
      await b.stop().catch((e) => log(`Cannot stop Kafka: ${e}`));
      await removeQuietly(b.dir);
    }
    for (const dir of ctx.tempDirs.splice(0)) await removeQuietly(dir);
  };
  let cleaning = Promise.resolve();
  const cleanup = () => (cleaning = cleaning.then(cleanOnce));
  const onSignal = () => {
    if (interrupted) {
      log("Interrupted again: killing what the bench started and exiting now");
      for (const server of running) {
        try {
          server.child.kill("SIGKILL");
        } catch { /* already gone */ }
      }
      if (broker) {
        try {
          Deno.kill(broker.pid, "SIGKILL");
        } catch { /* already gone */ }
      }
      Deno.exit(130);
    }
    interrupted = true;
    log("Interrupted: stopping every process the bench started (again to kill them at once)");
    ctx.abort.abort();
    void cleanup();
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, onSignal);

  const results: TargetResult[] = [];
  let lander: LanderMeasurement | null = null;
  let failed = false;
  try {
    if (specs.some((s) => s.id === "seeds")) {
      const problem = await seedsProblem();
      if (problem !== null) {
        const banner = "!".repeat(78);
        log(`${banner}\nNOTICE: skipping the seeds' app row: ${problem}\n${banner}`);
        notices.push(`The seeds' row was skipped: ${problem}.`);
      }
    }
    if (specs.some((s) => s.needsKafka)) {
      log("Starting a local Kafka broker (tools/kafka.ts)");
      try {
        broker = await startKafka({ log: (m) => log(`  ${m}`) });
        ctx.brokers = broker.brokers;
        ctx.brokerPid = broker.pid;
        if (interrupted) await cleanup();
      } catch (error) {
        ctx.kafkaProblem = `no Kafka broker: ${(error as Error).message.split("\n")[0]}`;
        log(`NOTICE: Kafka rows skipped: ${ctx.kafkaProblem}`);
        notices.push(`Kafka rows were skipped: ${ctx.kafkaProblem}.`);
      }
    }
    for (const spec of specs) {
      if (interrupted) break;
      try {
        results.push(await measureTarget(spec, ctx, options));
      } catch (error) {
        if (interrupted) break;
        failed = true;
        const message = (error as Error).message;
        log(`${spec.id}: failed: ${message}`);
        results.push({
          id: spec.id,
          label: spec.label,
          kind: spec.kind,
          eventsPerRequest: spec.batch,
          skipped: `failed: ${message.split("\n")[0]}`,
        });
        notices.push(`${spec.label} failed: ${message.split("\n")[0]}.`);
      }
    }
    if (!interrupted && !options.quick && ctx.brokers && options.only.includes("kafka")) {
      try {
        lander = await measureLander(ctx.brokers, { log });
        log(
          `lander: ${Math.round(lander.recordsPerS)} records/s draining; ` +
            `lands again ${lander.restartS.toFixed(1)} s after kill -9`,
        );
      } catch (error) {
        log(`lander: failed: ${(error as Error).message}`);
        notices.push(`The lander rows failed: ${(error as Error).message.split("\n")[0]}.`);
      }
    }
  } finally {
    await cleanup();
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.removeSignalListener(signal, onSignal);
    }
  }
  if (interrupted) return 130;

  let outPath: string;
  if (options.out !== null) outPath = resolve(options.out);
  else if (options.quick) {
    outPath = join(await Deno.makeTempDir({ prefix: "herald-bench-" }), "BENCHMARKS.md");
  } else outPath = join(ROOT, "BENCHMARKS.md");
  const chartPath = outPath.replace(/(\.md)?$/, ".png");

  const cores = Number(await commandOutput("nproc", [])) || navigator.hardwareConcurrency;
  const cpu = await cpuModel();
  const facts: RunFacts = {
    cores,
    cpu: cpu ?? undefined,
    loadAverage: loadAverage ?? undefined,
    deno: Deno.version.deno,
    kernel: (await commandOutput("uname", ["-sr"])) ?? Deno.osRelease(),
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    command: commandLine(args),
    loadTool: "`tools/load.ts` (`runLoad`, keep-alive HTTP/1.1 on `Deno.connect`), " +
      "in the bench's own process",
    concurrency: options.concurrency,
    durationS: options.durationS,
    warmupS: options.warmupS,
    wallS: (performance.now() - wallStart) / 1000,
    quick: options.quick,
    notices,
  };
  const title = `HERALD BENCH ${facts.date.slice(0, 10)}  ${cores} CORES  DENO ${facts.deno}  ` +
    `C=${options.concurrency}${options.quick ? "  QUICK" : ""}`;
  const png = await encodePng(renderChart(results, title));
  await Deno.mkdir(dirname(chartPath), { recursive: true });
  await Deno.writeFile(chartPath, png);
  facts.wallS = (performance.now() - wallStart) / 1000;
  let markdown = renderMarkdown(results, facts, relative(dirname(outPath), chartPath));
  if (lander) {
    markdown += `\n## The lander\n\n${renderLander(lander)}\n\n${LANDER_NOTE}\n`;
  }
  if (options.only.includes("batch")) {
    log("Profiling the batch route stage by stage, in-process");
    markdown += `\n## The batch route, stage by stage\n\n${
      renderStages(await profileBatchStages())
    }\n\n${STAGES_NOTE}\n`;
  }
  await Deno.writeTextFile(outPath, markdown);
  const fmt = await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", "--config", join(ROOT, "deno.json"), outPath],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!fmt.success) {
    log(`Cannot format "${outPath}" with deno fmt: ${new TextDecoder().decode(fmt.stderr).trim()}`);
  }

  console.log(formatTable(results, options.concurrency));
  console.log("");
  for (const v of verdicts(results)) console.log(formatVerdict(v));
  console.log("");
  console.log(
    "Note: the seeds' kafka-python send() is asynchronous (the seeds never waited for acks); " +
      "Herald answers after Kafka acked with acks=all.",
  );
  console.log(`Wrote "${outPath}" and "${chartPath}" in ${formatWall(facts.wallS)}`);
  return failed ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));

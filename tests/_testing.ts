/**
 * The one testing module: configs and in-memory apps, polling with a deadline,
 * seeded randomness, HTTP and raw-socket clients, process spawners, and a real
 * Kafka broker's records.
 *
 * Tests wait for conditions, never for time: {@linkcode waitFor} polls until
 * a condition holds and fails with what it waited for once a generous
 * deadline passes, a deadline that only stops a hung test and asserts no speed.
 *
 * @module
 */
import { setTimeout as delay } from "node:timers/promises";
import assert from "node:assert/strict";
import pino from "pino";
import { parse, stringify } from "yaml";
import { type GatewayConfig, loadConfig, parseConfig } from "../config/mod.ts";
import { Metrics } from "../ops/metrics.ts";
import { buildApp } from "../routes/mod.ts";
import type { SecretSource } from "../routes/guard.ts";
import { FanOut } from "../sinks/fan_out.ts";
import { MemorySink } from "../sinks/memory.ts";
import { SINKS } from "../sinks/mod.ts";
import { type Herald, spawnHerald } from "../tools/drill/herald.ts";
import { ROOT, spawnTask, taskArgs, type TaskProcess } from "../tools/drill/task.ts";
import { type DrillResult, formatReport } from "../tools/drill/mod.ts";
import { readTopics } from "../tools/kafka/read.ts";
import { createTopic, produceValues } from "../tools/kafka/write.ts";

// ---------------------------------------------------------------------------
// Configs and in-memory apps

/** The shipped config, parsed. */
export async function shippedConfig(): Promise<GatewayConfig> {
  const result = await loadConfig("config/gateway.yaml", { registry: SINKS });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return result.config;
}

/**
 * A temp file holding the shipped config with `sections` merged one level
 * deep (`{ kafka: { topic } }` changes only the topic), for a Herald process.
 */
export async function configFile(
  sections: Record<string, Record<string, unknown>>,
): Promise<string> {
  const doc = parse(await Deno.readTextFile("config/gateway.yaml"));
  for (const [section, values] of Object.entries(sections)) {
    doc[section] = { ...doc[section], ...values };
  }
  const file = await Deno.makeTempFile({ prefix: "herald-config-", suffix: ".yaml" });
  await Deno.writeTextFile(file, stringify(doc));
  return file;
}

/** Parses config text or throws with its errors. */
export function configFrom(text: string): GatewayConfig {
  const result = parseConfig(text, { registry: SINKS, file: "test.yaml" });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return result.config;
}

/** An app over an in-memory sink, with a fixed clock and counting ids. */
export function appWithMemorySink(
  config: GatewayConfig,
  options: {
    timeoutMs?: number;
    metrics?: Metrics;
    now?: () => number;
    secrets?: SecretSource;
  } = {},
) {
  const metrics = options.metrics ?? new Metrics();
  const sink = new MemorySink();
  const logLines: string[] = [];
  const logger = pino({ base: null }, { write: (line: string) => logLines.push(line) });
  let n = 0;
  const fanOut = new FanOut([sink], {
    timeoutMs: options.timeoutMs ?? 1000,
    readyQueueRatio: config.server.ready_queue_ratio,
    onWrite: metrics.observeWrite,
  });
  const app = buildApp(config, fanOut, {
    logger,
    metrics,
    secrets: options.secrets,
    deps: {
      now: options.now ?? (() => Date.UTC(2026, 10, 23, 10, 0, 0)),
      eventId: () => `evt-${++n}`,
      requestId: () => `req-${n}`,
      random: () => 0.5,
    },
  });
  return { app, sink, logLines, metrics };
}

/** The value of one sample of Prometheus exposition text, or undefined when absent. */
export function sample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const match = line.match(/^([a-z_]+)(?:\{(.*)\})? (\S+)$/);
    if (!match || match[1] !== name) continue;
    const have = match[2]?.split(",") ?? [];
    if (wanted.length === have.length && wanted.every((w) => have.includes(w))) {
      return Number(match[3]);
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// Waiting and randomness

/**
 * Resolves `ms` milliseconds later. Not a way to wait for something to
 * happen (that is {@linkcode waitFor}): only for scenarios where time itself
 * is the input, such as a client that dribbles bytes.
 */
export function sleep(ms: number): Promise<void> {
  return delay(ms);
}

/** Options of {@linkcode waitFor}. */
export interface WaitOptions {
  /** What is waited for, named in the error (default "a condition"). */
  what?: string;
  /** The deadline that fails a hung test (default 30 000 ms); asserts no speed. */
  timeoutMs?: number;
  /** Pause between two checks (default 50 ms). */
  intervalMs?: number;
  /** More detail for the error, computed when the deadline passed (a process's log). */
  detail?: () => string;
}

/**
 * Polls `condition` until it returns a truthy value, and resolves to that
 * value; rejects naming `what` once `timeoutMs` passed. An error thrown by
 * `condition` fails at once.
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  options: WaitOptions = {},
): Promise<NonNullable<T>> {
  const { what = "a condition", timeoutMs = 30_000, intervalMs = 50 } = options;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value as NonNullable<T>;
    if (performance.now() > deadline) {
      const detail = options.detail ? `\n${options.detail()}` : "";
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await sleep(intervalMs);
  }
}

/** A seeded PRNG (mulberry32) giving numbers in [0, 1), so a failing run can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Runs `fn` with a generator seeded by `HERALD_SEED` (when set) or `seed`,
 * and names the seed when `fn` fails, so `HERALD_SEED=<seed>` replays the run.
 */
export async function withSeed<T>(
  seed: number,
  fn: (random: () => number, seed: number) => T | Promise<T>,
): Promise<T> {
  const used = Number(Deno.env.get("HERALD_SEED") ?? seed);
  try {
    return await fn(seededRandom(used), used);
  } catch (error) {
    console.error(`failed with seed ${used} (replay with HERALD_SEED=${used})`);
    throw error;
  }
}

// ---------------------------------------------------------------------------
// HTTP and raw sockets

/** An HTTP answer with its body read to the end. */
export interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

/** Fetches `url` and reads the whole body, so no response stays open. */
export async function http(url: string, init?: RequestInit): Promise<Answer> {
  const res = await fetch(url, init);
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** The answer of `herald`'s `/readyz`. */
export function readyz(herald: { url: string }): Promise<Answer> {
  return http(`${herald.url}/readyz`);
}

/** Asserts that `/readyz` says `sink` is not ready because its queue is full at `limit` events. */
export function assertQueueFull(ready: Answer, sink: string, limit: number): void {
  assert.equal(ready.status, 503, ready.text);
  const health = JSON.parse(ready.text).sinks[sink];
  assert.equal(health.ok, false);
  assert.deepEqual(health.queue, { queued: limit, limit, unit: "events" });
}

/** Asserts that `answer` is a refusal, 503 with `Retry-After`, saying `reason`. */
export function assertRefused(answer: Answer, reason: RegExp): void {
  assert.equal(answer.status, 503, answer.text);
  assert.ok(answer.headers.get("retry-after") !== null, "the 503 carries Retry-After");
  assert.match(answer.text, reason);
}

/** A port on 127.0.0.1 where nothing listens (it was free a moment ago). */
export function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** Options of {@linkcode readAnswer} and {@linkcode rawHttp}. */
export interface RawOptions {
  /** Close the connection after this long (default 30 000 ms): fails nothing, ends a hang. */
  timeoutMs?: number;
  /** Stop reading once the text read so far matches (default: read until the server closes). */
  until?: RegExp;
}

/** Reads what the server sends on `conn` until it closes, `until` matches or the timeout. */
export async function readAnswer(conn: Deno.Conn, options: RawOptions = {}): Promise<string> {
  let out = "";
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    try {
      conn.close();
    } catch { /* already closed */ }
  };
  const timer = setTimeout(close, options.timeoutMs ?? 30_000);
  try {
    for await (const chunk of conn.readable.pipeThrough(new TextDecoderStream())) {
      out += chunk;
      if (options.until?.test(out)) break;
    }
  } catch { /* closed by the timer or reset by the server */ }
  clearTimeout(timer);
  close();
  return out;
}

/**
 * Sends raw bytes over TCP, as clients that fetch() cannot imitate do, and
 * returns what the server answered (see {@linkcode readAnswer}).
 */
export async function rawHttp(
  port: number,
  request: string | Uint8Array,
  options: RawOptions = {},
): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const bytes = typeof request === "string" ? new TextEncoder().encode(request) : request;
  await conn.write(bytes).catch(() => 0); // the server may refuse before reading it all
  return await readAnswer(conn, options);
}

/** `data` compressed in `format` (a request body with that `Content-Encoding`). */
export async function compress(
  data: string | Uint8Array,
  format: CompressionFormat,
): Promise<Uint8Array> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(new CompressionStream(format));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The hex HMAC-SHA256 of `data` under `key`, as a signing client sends it. */
export async function hmacHex(key: string, data: string | Uint8Array): Promise<string> {
  const encoder = new TextEncoder();
  const k = await crypto.subtle.importKey(
    "raw",
    encoder.encode(key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  const sig = new Uint8Array(await crypto.subtle.sign("HMAC", k, bytes as BufferSource));
  return [...sig].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// ---------------------------------------------------------------------------
// Processes

/** A process's resident memory (`VmRSS`) and its peak (`VmHWM`), in MiB. */
export function memoryMib(pid: number): { rss: number; peak: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = (name: string) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+)`, "m"))![1]);
  return { rss: kib("VmRSS") / 1024, peak: kib("VmHWM") / 1024 };
}

/**
 * The arguments after `deno` of a deno.json task (`run <permissions> file`),
 * so tests run a tool exactly as its task does and the two cannot drift.
 */
export { taskArgs };

/** Long-running tasks: `spawnTask("land", args, { ready })`. */
export { spawnTask, type TaskProcess };

/** A finished process's exit code and output. */
export interface Finished {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `deno task <task>` with `args` to its exit, from the repository root. */
export async function runTask(
  task: string,
  args: string[],
  options: { env?: Record<string, string> } = {},
): Promise<Finished> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [...taskArgs(task), ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code, stdout: decode(stdout), stderr: decode(stderr) };
}

/** A running Herald process, with its lake folder. */
export interface HeraldProcess extends Herald {
  /** The lake folder (a fresh temp folder unless HERALD_LAKE was given). */
  lake: string;
}

/** Spawns Herald with `args` on a free port; resolves once it logged "listening". */
export async function startHerald(
  args: string[] = [],
  options: { env?: Record<string, string>; readStdout?: boolean; stdoutFile?: string } = {},
): Promise<HeraldProcess> {
  const lake = options.env?.HERALD_LAKE ?? await Deno.makeTempDir({ prefix: "herald-lake-" });
  const herald = await spawnHerald({
    args,
    env: { HERALD_LAKE: lake, ...options.env },
    keepStdout: true,
    readStdout: options.readStdout,
    stdoutFile: options.stdoutFile,
  });
  return { ...herald, lake };
}

/** Runs Herald expecting it to exit by itself; returns its exit code and output. */
export function runHeraldToExit(args: string[]): Promise<Finished> {
  return runTask("serve", args);
}

/** Waits until Herald's stderr has `count` lines containing `text`; returns the last. */
export async function logged(herald: { stderr(): string }, text: string, count = 1) {
  return await waitFor(() => {
    const lines = herald.stderr().split("\n").filter((l) => l.includes(text));
    return lines.length >= count ? lines.at(-1)! : null;
  }, { what: `"${text}" (x${count}) in the log`, detail: () => herald.stderr() });
}

// ---------------------------------------------------------------------------
// Kafka

/** Whether `cmd` runs on this machine. */
export async function hasCommand(cmd: string, args = ["--version"]): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" })
      .output();
    return success;
  } catch {
    return false;
  }
}

/**
 * Why the Kafka tests `what` names cannot run here, or null; the reason is
 * printed. Outside CI a missing Java or Maven ignores them (reported as
 * ignored, never as passed); under `CI=true` they run and fail loudly instead.
 */
export async function kafkaUnavailable(what: string): Promise<string | null> {
  if (Deno.env.get("CI") === "true") return null;
  for (const cmd of ["java", "mvn"]) {
    if (!(await hasCommand(cmd, ["-version"]))) {
      const reason = `"${cmd}" is not installed`;
      console.error(`${what} ignored: ${reason} (they run and fail in CI)`);
      return reason;
    }
  }
  return null;
}

/** A received record. */
export interface Received {
  topic: string;
  key: string | null;
  value: Record<string, unknown>;
  headers: Record<string, string>;
}

/**
 * Every record of `topics`, read from the beginning up to their end offsets
 * (so a duplicate would be there too), with values parsed as JSON.
 */
export async function consumeAll(
  brokers: string,
  topics: string[],
  options: { timeoutMs?: number } = {},
): Promise<Received[]> {
  const records = await readTopics(brokers, topics, options);
  return records.map((r) => ({
    topic: r.topic,
    key: r.key,
    value: JSON.parse(r.value),
    headers: r.headers,
  }));
}

/** Creates `topic` (one partition) and writes `values` to it, in order. */
export async function produce(brokers: string, topic: string, values: string[]): Promise<void> {
  await createTopic(brokers, topic);
  await produceValues(brokers, topic, values);
}

/** Fails with the drill's report unless it ran and passed every check. */
export function assertDrillPassed(result: DrillResult): void {
  const report = formatReport([result]);
  console.error(report);
  assert.equal(result.notRun, null, `not run: ${result.notRun}`);
  assert.deepEqual(result.failures, [], report);
  assert.equal(result.missing, 0, `missing obligations\n${report}`);
  assert.equal(result.duplicated, 0, `duplicated obligations\n${report}`);
  assert.ok(result.counts.ok > 0, "some requests were acknowledged");
  assert.ok(result.ok, report);
}

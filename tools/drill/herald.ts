/**
 * Herald as a real process, run exactly as `deno task serve` runs it: for
 * the drills, and (through tests/_process.ts) for the process tests.
 *
 * @module
 */
import { fileURLToPath as fromFileUrl } from "node:url";
import { parse, stringify } from "yaml";
import { ROOT, taskArgs } from "./task.ts";

/** The drill config file shipped next to this module. */
export const DRILL_CONFIG = fromFileUrl(new URL("./drill.yaml", import.meta.url));

/**
 * Writes a config file into `dir`: the drill config with `overrides` merged
 * one level deep (`{kafka: {topic}}` changes only the topic).
 */
export async function drillConfig(
  dir: string,
  overrides: Record<string, Record<string, unknown>>,
): Promise<{ path: string; config: Record<string, Record<string, unknown>> }> {
  const base = parse(await Deno.readTextFile(DRILL_CONFIG));
  for (const [section, values] of Object.entries(overrides)) {
    base[section] = { ...base[section], ...values };
  }
  const path = `${dir}/drill.yaml`;
  await Deno.writeTextFile(path, stringify(base));
  return { path, config: base };
}

/** A running Herald. */
export interface Herald {
  url: string;
  port: number;
  pid: number;
  child: Deno.ChildProcess;
  /** Everything read from stdout so far (kept only with `keepStdout`). */
  stdout(): string;
  stderr(): string;
  /** Starts reading stdout if it was held back (`readStdout: false`). */
  readStdout(): void;
  /** Sends `signal` and waits for the exit and the end of both streams. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
  /** The exit status, once exited. */
  status: Promise<Deno.CommandStatus>;
}

/** Options of {@linkcode spawnHerald}. */
export interface SpawnOptions {
  /** Arguments after `main.ts`; `--port 0` is always given first. */
  args: string[];
  env?: Record<string, string>;
  /** Keep stdout's text (the event stream); otherwise it is read and dropped. */
  keepStdout?: boolean;
  /** false: leave stdout unread until `readStdout()`, as a slow pipe reader would. */
  readStdout?: boolean;
  /** Send stdout to this regular file (a shell's `> file`) instead of a pipe; `stdout()` reads it. */
  stdoutFile?: string;
}

/**
 * Spawns Herald exactly as `deno task serve` runs it, on a free port;
 * resolves once it logged "listening" (rejects, after killing it, when it
 * exits first or is not listening within 60 s).
 */
export async function spawnHerald(options: SpawnOptions): Promise<Herald> {
  const args = [...taskArgs("serve"), "--port", "0", ...options.args];
  const file = options.stdoutFile;
  const child = new Deno.Command(file ? "sh" : Deno.execPath(), {
    args: file ? ["-c", 'exec "$@" > "$HERALD_STDOUT_FILE"', "sh", Deno.execPath(), ...args] : args,
    cwd: ROOT,
    env: { NO_COLOR: "1", ...options.env, ...(file ? { HERALD_STDOUT_FILE: file } : {}) },
    stdin: "null",
    stdout: file ? "null" : "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  let err = "";
  const decode = (stream: ReadableStream<Uint8Array>, onText: (t: string) => void) =>
    stream.pipeThrough(new TextDecoderStream()).pipeTo(new WritableStream({ write: onText }))
      .catch(() => {});
  let stdoutDone: Promise<void> | null = null;
  const readStdout = () => {
    if (file) return;
    stdoutDone ??= decode(child.stdout, (t) => {
      if (options.keepStdout) out += t;
    });
  };
  if (options.readStdout !== false) readStdout();
  let onListening!: (port: number) => void;
  const listening = new Promise<number>((r) => (onListening = r));
  const stderrDone = decode(child.stderr, (t) => {
    err += t;
    // Keep only the tail once listening: a long drill must not grow memory.
    if (err.length > 4_000_000) err = err.slice(-1_000_000);
    const match = err.match(/"port":(\d+),[^\n]*"msg":"listening"/);
    if (match) onListening(Number(match[1]));
  });
  const status = child.status;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const port = await Promise.race([
    listening,
    status.then((s) => {
      throw new Error(`Herald exited with ${s.code} before listening:\n${err}`);
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Herald not listening after 60 s:\n${err}`)),
        60_000,
      );
    }),
  ]).catch(async (error) => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await status;
    throw error;
  }).finally(() => clearTimeout(timer));
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid,
    child,
    stdout: () => (file ? Deno.readTextFileSync(file) : out),
    stderr: () => err,
    readStdout,
    status,
    async stop(signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
      readStdout();
      const s = await status;
      await Promise.all([stdoutDone, stderrDone]);
      return s;
    },
  };
}

/** Options of {@linkcode startHerald}. */
export interface HeraldOptions {
  config: string;
  sinks: string;
  lake: string;
  brokers?: string;
  /** Keep stdout's text (the sigterm drill parses it); otherwise it is read and dropped. */
  keepStdout?: boolean;
  /** More flags of `deno task serve`. */
  args?: string[];
}

/** Spawns Herald for a drill: its config, sinks, lake and broker. */
export function startHerald(options: HeraldOptions): Promise<Herald> {
  return spawnHerald({
    args: ["--config", options.config, "--sinks", options.sinks, ...options.args ?? []],
    env: {
      HERALD_LAKE: options.lake,
      ...(options.brokers ? { KAFKA_BROKERS: options.brokers } : {}),
    },
    keepStdout: options.keepStdout,
  });
}

/** Resident memory of `pid` in bytes (`VmRSS` of /proc), or null when unknown. */
export async function rssBytes(pid: number): Promise<number | null> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const match = status.match(/^VmRSS:\s+(\d+) kB/m);
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Polls `/readyz` until 200; false after `timeoutMs`. */
export async function waitReady(url: string, timeoutMs = 30_000): Promise<boolean> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
      await res.body?.cancel();
      if (res.status === 200) return true;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

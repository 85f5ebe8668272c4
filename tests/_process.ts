/** Runs `main.ts` as a real process, the way `deno task serve` does. */

import { taskArgs } from "../tools/drill/herald.ts";

/**
 * The arguments after `deno` of a deno.json task (`run <permissions> file`),
 * so tests run a tool exactly as its task does and the two cannot drift.
 * Shared with the drills, which run Herald the same way.
 */
export { taskArgs };

const SERVE_ARGS = taskArgs("serve");

/** A running Herald process. */
export interface HeraldProcess {
  url: string;
  /** The lake folder (a fresh temp folder unless HERALD_LAKE was given). */
  lake: string;
  port: number;
  child: Deno.ChildProcess;
  /** Everything read from stdout so far (the event stream). */
  stdout(): string;
  stderr(): string;
  /** Starts draining stdout; call it late to simulate a slow reader. */
  readStdout(): void;
  /** Sends `signal` and waits for exit. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

function collect(
  stream: ReadableStream<Uint8Array>,
  onText: (text: string) => void,
): Promise<void> {
  return stream.pipeThrough(new TextDecoderStream()).pipeTo(new WritableStream({ write: onText }));
}

/** Spawns Herald with `args` on a free port; resolves once it logged "listening". */
export async function startHerald(
  args: string[] = [],
  options: { env?: Record<string, string>; readStdout?: boolean } = {},
): Promise<HeraldProcess> {
  const lake = await Deno.makeTempDir({ prefix: "herald-lake-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: [...SERVE_ARGS, "--port", "0", ...args],
    env: { NO_COLOR: "1", HERALD_LAKE: lake, ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  let err = "";
  let reading: Promise<void> | null = null;
  const readStdout = () => {
    reading ??= collect(child.stdout, (t) => (out += t));
  };
  if (options.readStdout !== false) readStdout();
  let onListening!: (port: number) => void;
  const listening = new Promise<number>((r) => (onListening = r));
  const stderrDone = collect(child.stderr, (t) => {
    err += t;
    const match = err.match(/"port":(\d+),[^\n]*"msg":"listening"/);
    if (match) onListening(Number(match[1]));
  });
  const port = await Promise.race([
    listening,
    child.status.then((s) => {
      throw new Error(`Herald exited with ${s.code} before listening:\n${err}`);
    }),
  ]);
  return {
    url: `http://127.0.0.1:${port}`,
    lake: options.env?.HERALD_LAKE ?? lake,
    port,
    child,
    stdout: () => out,
    stderr: () => err,
    readStdout,
    async stop(signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
      readStdout();
      const status = await child.status;
      await Promise.all([reading, stderrDone]);
      return status;
    },
  };
}

/** Runs Herald expecting it to exit by itself; returns its exit code and stderr. */
export async function runHeraldToExit(
  args: string[],
): Promise<{ code: number; stderr: string; stdout: string }> {
  const { code, stderr, stdout } = await new Deno.Command(Deno.execPath(), {
    args: [...SERVE_ARGS, ...args],
    env: { NO_COLOR: "1" },
    stdin: "null",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code, stderr: decode(stderr), stdout: decode(stdout) };
}

/** Sends raw bytes over TCP and returns everything the server answered until it closed. */
export async function rawHttp(port: number, request: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(request));
  let out = "";
  for await (const chunk of conn.readable.pipeThrough(new TextDecoderStream())) out += chunk;
  return out;
}

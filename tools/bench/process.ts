/**
 * The processes the bench spawns: a server started on a free port and
 * polled until it answers 2xx, its stderr drained, and its stop (SIGTERM,
 * then SIGKILL).
 *
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's root folder. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** The config every Herald target runs with. */
export const CONFIG = join(ROOT, "config", "gateway.yaml");

/** Progress lines go to stderr. */
export const log = (line: string) => console.error(line);
/** Resolves after `ms` milliseconds. */
export { sleep };

/** `deno run <permissions> main.ts`, taken from the serve task so the two cannot drift. */
export async function serveArgs(): Promise<string[]> {
  const denoJson = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  return (denoJson.tasks.serve as string).split(" ").slice(1);
}

export function freePort(): number {
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
export interface Server {
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

export const running = new Set<Server>();

/** Spawns a server, then polls `GET /` until it answers 2xx (the start time). */
export async function spawnServer(
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

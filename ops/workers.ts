/**
 * `deno task serve --workers N`: a supervisor process that runs N worker
 * processes of Herald (this same `main.ts`) on one port. The kernel spreads
 * connections across them (`SO_REUSEPORT`, Linux only). Each worker has its
 * own sinks, its own Parquet log folder (`_wal/w<i>/`) and a private control
 * socket, through which any worker answers `/metrics` and `/readyz` for all
 * (`siblings.ts`).
 *
 * The supervisor starts worker 0 first, on the configured port (`0` picks
 * one), then the others on the port worker 0 bound. It forwards SIGHUP to
 * every worker, and on SIGTERM or SIGINT drains them all and exits 0 once
 * every one drained cleanly. A worker that dies otherwise is started again
 * at once, and after a quick death again with a growing delay
 * (`restartDelayMs`). A worker that dies before it first listened
 * stops the whole server: a bad port or lake would kill every restart too.
 *
 * @module
 */
import { dirname } from "node:path";
import type { Logger } from "pino";
import { defaultLogger, loadServerConfig, startErrors } from "./server.ts";
import { Supervisor, type SupervisorOptions } from "./_supervisor.ts";

export { restartDelayMs, type SupervisorOptions, WORKER_DENO_FLAGS } from "./_supervisor.ts";

/**
 * The number of workers `value` asks for (`--workers` or `HERALD_WORKERS`,
 * named by `source`): a whole number of at least 1, or `auto` for one per
 * core. Throws a {@linkcode RangeError} naming `source` for anything else.
 */
export function parseWorkers(value: string | undefined, source: string): number {
  if (value === undefined || value === "") return 1;
  if (value === "auto") return Math.max(1, navigator.hardwareConcurrency);
  if (/^\d+$/.test(value) && Number(value) >= 1) return Number(value);
  throw new RangeError(
    `Invalid ${source} "${value}": expected a whole number of at least 1, or "auto"`,
  );
}

/**
 * Runs `options.workers` worker processes until SIGTERM or SIGINT; resolves
 * to the exit code: 0 when every worker drained cleanly, 1 when the config
 * is invalid, a worker could not start, or a worker failed to drain.
 */
export async function superviseWorkers(options: SupervisorOptions): Promise<number> {
  const logger = (options.logger ?? defaultLogger()).child({ role: "supervisor" });
  const count = options.workers;
  if (Deno.build.os !== "linux") {
    console.error(
      `Cannot start with --workers ${count}: several workers share a port only on Linux`,
    );
    return 1;
  }
  // The same errors as a single Herald, before any worker starts.
  const loaded = await loadServerConfig(options);
  if (!loaded.ok) {
    for (const line of startErrors(loaded.errors)) console.error(line);
    return 1;
  }

  const { dir, presence } = await socketDir(logger);
  const supervisor = new Supervisor(dir, options, logger);
  const signals: [Deno.Signal, () => void][] = [
    ["SIGTERM", () => supervisor.requestStop("SIGTERM")],
    ["SIGINT", () => supervisor.requestStop("SIGINT")],
    ["SIGHUP", () => supervisor.forward("SIGHUP")],
  ];
  for (const [signal, listener] of signals) Deno.addSignalListener(signal, listener);
  const finish = async (code: number) => {
    for (const [signal, listener] of signals) Deno.removeSignalListener(signal, listener);
    presence.close();
    await Deno.remove(supervisor.dir, { recursive: true }).catch(() => {});
    return code;
  };

  // Worker 0 first: it binds the port (maybe a free one), the others join it.
  const [first, ...others] = supervisor.slots;
  const port = (await supervisor.start(first!))?.port;
  supervisor.port = port;
  const started = port !== undefined &&
    (supervisor.stopping !== null ||
      !(await Promise.all(others.map((s) => supervisor.start(s)))).includes(null));
  if (!started) {
    logger.error({ workers: count }, "a worker exited before it listened; stopping");
    await supervisor.drain();
    return finish(1);
  }
  if (!supervisor.stopping) {
    logger.info({
      port,
      workers: count,
      pids: supervisor.slots.map((s) => s.child?.pid),
    }, "every worker listening");
    for (const slot of supervisor.slots) supervisor.watch(slot);
  }

  const signal = await supervisor.stopped;
  logger.info({ signal, workers: count }, "draining every worker");
  const clean = await supervisor.drain();
  logger.info({ workers: count }, "every worker stopped");
  return finish(clean ? 0 : 1);
}

const SOCKET_DIR_PREFIX = "herald-workers-";
/** The supervisor's own socket in the folder: it listens while the supervisor lives. */
const PRESENCE = "supervisor.sock";

/**
 * A new folder for the workers' control sockets, with the supervisor's
 * presence socket in it. Folders beside it whose presence socket refuses a
 * connection were left by a supervisor that is gone (killed with -9, so it
 * could not remove its own, and the kernel keeps the socket file): they are
 * removed. A folder without one (an older Herald's, or one being made) is
 * left alone. (`/proc` and signal 0 would need more permissions than serving.)
 */
async function socketDir(logger: Logger): Promise<{ dir: string; presence: Deno.Listener }> {
  const dir = await Deno.makeTempDir({ prefix: SOCKET_DIR_PREFIX });
  const presence = Deno.listen({ transport: "unix", path: `${dir}/${PRESENCE}` });
  // A connection only learns that the supervisor lives.
  void (async () => {
    for await (const conn of presence) conn.close();
  })().catch(() => {});
  const parent = dirname(dir);
  for await (const entry of Deno.readDir(parent)) {
    const path = `${parent}/${entry.name}`;
    if (!entry.isDirectory || !entry.name.startsWith(SOCKET_DIR_PREFIX) || path === dir) continue;
    try {
      (await Deno.connect({ transport: "unix", path: `${path}/${PRESENCE}` })).close();
    } catch (error) {
      if (!(error instanceof Deno.errors.ConnectionRefused)) continue;
      await Deno.remove(path, { recursive: true }).catch(() => {});
      logger.info({ dir: path }, "removed the socket folder of a supervisor that is gone");
    }
  }
  return { dir, presence };
}

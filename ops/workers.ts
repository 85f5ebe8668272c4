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

  const supervisor = new Supervisor(
    await Deno.makeTempDir({ prefix: "herald-workers-" }),
    options,
    logger,
  );
  const signals: [Deno.Signal, () => void][] = [
    ["SIGTERM", () => supervisor.requestStop("SIGTERM")],
    ["SIGINT", () => supervisor.requestStop("SIGINT")],
    ["SIGHUP", () => supervisor.forward("SIGHUP")],
  ];
  for (const [signal, listener] of signals) Deno.addSignalListener(signal, listener);
  const finish = async (code: number) => {
    for (const [signal, listener] of signals) Deno.removeSignalListener(signal, listener);
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

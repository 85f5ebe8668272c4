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
 * ({@linkcode restartDelayMs}). A worker that dies before it first listened
 * stops the whole server: a bad port or lake would kill every restart too.
 *
 * @module
 */
import type { Logger } from "pino";
import { defaultLogger, loadServerConfig, type ServerOptions, startErrors } from "./server.ts";
import { askWorker, WORKER_ENV, type WorkerIdentity } from "./siblings.ts";

/**
 * The `deno run` flags of a worker: those of the `serve` task, without
 * `--allow-run` (only the supervisor starts processes), plus `--unstable-net`
 * for `reusePort`. A test checks that they match deno.json.
 */
export const WORKER_DENO_FLAGS = [
  "--v8-flags=--max-semi-space-size=8",
  "--unstable-net",
  "--allow-net",
  "--allow-env",
  "--allow-read",
  "--allow-write",
  "--allow-sys",
];

/** A worker that lived shorter than this died "quickly": its next start waits. */
const QUICK_DEATH_MS = 10_000;
/** How often the supervisor asks a starting worker whether it listens. */
const READY_POLL_MS = 50;

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
 * Milliseconds to wait before starting a worker again after its
 * `quickDeaths`-th death in a row within {@linkcode QUICK_DEATH_MS} of its
 * start: none after a worker that ran for a while, then 0.5 s, doubling up
 * to 30 s.
 */
export function restartDelayMs(quickDeaths: number): number {
  return quickDeaths === 0 ? 0 : Math.min(500 * 2 ** (quickDeaths - 1), 30_000);
}

/** Options of {@linkcode superviseWorkers}: what to serve, and how many workers. */
export interface SupervisorOptions
  extends Pick<ServerOptions, "config" | "port" | "sinks" | "watch"> {
  /** Worker processes, at least 2. */
  workers: number;
  /** The module each worker runs: Herald's `main.ts`. */
  main: string | URL;
  /** The supervisor's log (default: JSON lines on stderr). */
  logger?: Logger;
}

interface Slot {
  index: number;
  child: Deno.ChildProcess | null;
  startedAt: number;
  restarts: number;
  quickDeaths: number;
}

/** The process of `slot` now (a function, as a start replaces it while others wait). */
function childOf(slot: Slot): Deno.ChildProcess | null {
  return slot.child;
}

/**
 * Runs `options.workers` worker processes until SIGTERM or SIGINT; resolves
 * to the exit code: 0 when every worker drained cleanly, 1 when the config
 * is invalid, a worker could not start, or a worker failed to drain.
 */
export async function superviseWorkers(options: SupervisorOptions): Promise<number> {
  const logger = (options.logger ?? defaultLogger()).child({ role: "supervisor" });
  if (Deno.build.os !== "linux") {
    console.error(
      `Cannot start with --workers ${options.workers}: several workers share a port only on Linux`,
    );
    return 1;
  }
  // The same errors as a single Herald, before any worker starts.
  const loaded = await loadServerConfig(options);
  if (!loaded.ok) {
    for (const line of startErrors(loaded.errors)) console.error(line);
    return 1;
  }

  const { promise: stopRequested, resolve: requestStop } = Promise.withResolvers<string>();
  let stopping: string | null = null;
  const onStop = (signal: string) => () => {
    stopping ??= signal;
    requestStop(signal);
  };
  const signals: [Deno.Signal, () => void][] = [
    ["SIGTERM", onStop("SIGTERM")],
    ["SIGINT", onStop("SIGINT")],
    ["SIGHUP", () => forward("SIGHUP")],
  ];
  for (const [signal, listener] of signals) Deno.addSignalListener(signal, listener);

  const dir = await Deno.makeTempDir({ prefix: "herald-workers-" });
  const count = options.workers;
  const slots: Slot[] = [...Array(count).keys()].map((index) => ({
    index,
    child: null,
    startedAt: 0,
    restarts: 0,
    quickDeaths: 0,
  }));
  const deno = Deno.permissions.querySync({ name: "run", command: Deno.execPath() }).state ===
      "granted"
    ? Deno.execPath()
    : "deno";
  let port = options.port;
  const args = () => [
    "--config",
    options.config,
    ...(port === undefined ? [] : ["--port", String(port)]),
    ...(options.sinks === undefined ? [] : ["--sinks", options.sinks]),
    ...(options.watch ? ["--watch"] : []),
  ];
  const identity = (index: number): WorkerIdentity => ({ index, count, dir });

  function forward(signal: Deno.Signal) {
    if (stopping) return;
    logger.info({ signal, workers: count }, "forwarding to every worker");
    for (const slot of slots) {
      try {
        slot.child?.kill(signal);
      } catch { /* exited meanwhile: its restart reads the file anew */ }
    }
  }

  /** Starts the worker of `slot`; resolves to its port once it listens, or null if it exited. */
  async function start(slot: Slot): Promise<number | null> {
    const child = new Deno.Command(deno, {
      args: ["run", ...WORKER_DENO_FLAGS, String(options.main), ...args()],
      env: { [WORKER_ENV]: JSON.stringify(identity(slot.index)) },
      // The pipe stays open while the supervisor lives: a worker drains when it ends.
      stdin: "piped",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    slot.child = child;
    slot.startedAt = Date.now();
    let exited = false;
    child.status.then(() => (exited = true));
    while (!exited) {
      const status = await askWorker<{ port: number; pid: number }>(
        dir,
        slot.index,
        "/status",
        1000,
      ).catch(() => null);
      if (status?.pid === child.pid) return status.port;
      await new Promise((r) => setTimeout(r, READY_POLL_MS));
    }
    return null;
  }

  const stopAll = async (): Promise<boolean> => {
    let clean = true;
    await Promise.all(slots.map(async (slot) => {
      const child = slot.child;
      if (!child) return;
      try {
        child.kill("SIGTERM");
      } catch { /* already exiting */ }
      const status = await child.status;
      if (status.code !== 0) {
        clean = false;
        logger.error(
          { worker: slot.index, pid: child.pid, code: status.code, signal: status.signal },
          "worker did not drain cleanly",
        );
      }
    }));
    return clean;
  };

  const cleanUp = async () => {
    for (const [signal, listener] of signals) Deno.removeSignalListener(signal, listener);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };

  // Worker 0 first: it binds the port (maybe a free one), the others join it.
  const first = await start(slots[0]!);
  if (first !== null) port = first;
  const started = first !== null &&
    (stopping !== null || !(await Promise.all(slots.slice(1).map(start))).includes(null));
  if (!started) {
    logger.error({ workers: count }, "a worker exited before it listened; stopping");
    await stopAll();
    await cleanUp();
    return 1;
  }
  if (!stopping) {
    logger.info({
      port,
      workers: count,
      pids: slots.map((s) => s.child?.pid),
    }, "every worker listening");
  }

  const watch = (slot: Slot) => {
    const child = slot.child!;
    child.status.then(async (status) => {
      if (stopping || slot.child !== child) return;
      slot.child = null;
      slot.restarts++;
      slot.quickDeaths = Date.now() - slot.startedAt < QUICK_DEATH_MS ? slot.quickDeaths + 1 : 0;
      const delay = restartDelayMs(slot.quickDeaths);
      logger.error({
        worker: slot.index,
        pid: child.pid,
        code: status.code,
        signal: status.signal,
        restarts: slot.restarts,
        delay_ms: delay,
      }, "worker died; restarting it");
      await Promise.race([new Promise((r) => setTimeout(r, delay)), stopRequested]);
      if (stopping) return;
      const listening = await start(slot);
      const restarted = childOf(slot);
      if (listening !== null) {
        logger.info(
          { worker: slot.index, pid: restarted?.pid, restarts: slot.restarts },
          "worker restarted",
        );
      }
      if (restarted && !stopping) watch(slot);
    });
  };
  if (!stopping) { for (const slot of slots) watch(slot); }

  const signal = await stopRequested;
  logger.info({ signal, workers: count }, "draining every worker");
  const clean = await stopAll();
  await cleanUp();
  logger.info({ workers: count }, "every worker stopped");
  return clean ? 0 : 1;
}

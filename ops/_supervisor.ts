/**
 * The supervisor's worker processes: it starts each (worker 0 first, which
 * binds the port), restarts one that dies, forwards signals, and drains them
 * all. `workers.ts` runs it.
 *
 * @module
 */
import type { Logger } from "pino";
import type { ServerOptions } from "./server.ts";
import { LineRelay } from "./_relay.ts";
import { stdoutNeverWaits } from "../sinks/stdout.ts";
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
 * Milliseconds to wait before starting a worker again after its
 * `quickDeaths`-th death in a row within {@linkcode QUICK_DEATH_MS} of its
 * start: none after a worker that ran for a while, then 0.5 s, doubling up
 * to 30 s.
 */
export function restartDelayMs(quickDeaths: number): number {
  return quickDeaths === 0 ? 0 : Math.min(500 * 2 ** (quickDeaths - 1), 30_000);
}

/** What the workers serve, and how many there are. */
export interface SupervisorOptions
  extends Pick<ServerOptions, "config" | "port" | "sinks" | "watch" | "live"> {
  /** Worker processes, at least 2. */
  workers: number;
  /** The module each worker runs: Herald's `main.ts`. */
  main: string | URL;
  /** The supervisor's log (default: JSON lines on stderr). */
  logger?: Logger;
}

/** One worker's place: its process now, and how often it died. */
interface Slot {
  index: number;
  child: Deno.ChildProcess | null;
  startedAt: number;
  restarts: number;
  quickDeaths: number;
  /** Whether the process now listens: one still starting has no signal handlers yet. */
  listening: boolean;
  /** Resolves once the worker's stdout has been copied to the end. */
  output: Promise<void>;
}

/** The worker processes of one server: starts, restarts, signals and drains them. */
export class Supervisor {
  readonly dir: string;
  readonly slots: Slot[];
  /** The port every worker serves on, once worker 0 bound it. */
  port: number | undefined;
  /** Set once SIGTERM or SIGINT arrived: nothing is started or restarted any more. */
  stopping: string | null = null;
  readonly stopped: Promise<string>;
  #stop: (signal: string) => void;
  #options: SupervisorOptions;
  #logger: Logger;
  #deno: string;
  /**
   * Null when stdout is a regular file or `/dev/null`: there workers write to
   * it themselves, each flush one write that the kernel keeps whole. A pipe,
   * a socket or a terminal keeps only small writes whole, so there events
   * go through the supervisor a line at a time.
   */
  #stdout = stdoutNeverWaits() ? null : new LineRelay(Deno.stdout);

  constructor(dir: string, options: SupervisorOptions, logger: Logger) {
    this.dir = dir;
    this.#options = options;
    this.#logger = logger;
    this.port = options.port;
    this.slots = [...Array(options.workers).keys()].map((index) => ({
      index,
      child: null,
      startedAt: 0,
      restarts: 0,
      quickDeaths: 0,
      listening: false,
      output: Promise.resolve(),
    }));
    const { promise, resolve } = Promise.withResolvers<string>();
    this.stopped = promise;
    this.#stop = resolve;
    // The binary that runs the supervisor, if it may; else `deno` from PATH (`--allow-run=deno`).
    const run = Deno.permissions.querySync({ name: "run", command: Deno.execPath() });
    this.#deno = run.state === "granted" ? Deno.execPath() : "deno";
  }

  /** Stops starting workers and wakes whoever waits on {@linkcode stopped}. */
  requestStop(signal: string): void {
    this.stopping ??= signal;
    this.#stop(signal);
  }

  /** Sends `signal` to every worker running now. */
  forward(signal: Deno.Signal): void {
    if (this.stopping) return;
    this.#logger.info({ signal, workers: this.slots.length }, "forwarding to every worker");
    // A worker still starting reads the config anew anyway, and would die of the signal.
    for (const slot of this.slots) {
      if (!slot.listening) continue;
      try {
        slot.child?.kill(signal);
      } catch { /* exited meanwhile: its restart reads the config anew */ }
    }
  }

  /** Starts the worker of `slot`; resolves once it listens, or to null if it exited first. */
  async start(slot: Slot): Promise<{ port: number; pid: number } | null> {
    const { config, port, sinks, watch, live, main, workers: count } = {
      ...this.#options,
      port: this.port,
    };
    const identity: WorkerIdentity = { index: slot.index, count, dir: this.dir };
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(this.#deno, {
        args: [
          "run",
          ...WORKER_DENO_FLAGS,
          String(main),
          "--config",
          config,
          ...(port === undefined ? [] : ["--port", String(port)]),
          ...(sinks === undefined ? [] : ["--sinks", sinks]),
          ...(watch ? ["--watch"] : []),
          ...(live ? ["--live"] : []),
        ],
        env: { [WORKER_ENV]: JSON.stringify(identity) },
        // The pipe stays open while the supervisor lives: a worker drains when it ends.
        stdin: "piped",
        // Events go through the supervisor, whole lines at a time (`_relay.ts`), unless
        // stdout is a file or /dev/null.
        stdout: this.#stdout ? "piped" : "inherit",
        stderr: "inherit",
      }).spawn();
    } catch (error) {
      this.#logger.error(
        { worker: slot.index, err: (error as Error).message },
        "cannot start a worker",
      );
      return null;
    }
    slot.child = child;
    slot.listening = false;
    slot.startedAt = Date.now();
    slot.output = this.#stdout ? this.#stdout.relay(child.stdout) : Promise.resolve();
    let exited = false;
    child.status.then(() => (exited = true));
    while (!exited) {
      const status = await askWorker<{ port: number; pid: number }>(
        this.dir,
        slot.index,
        "/status",
        1000,
      ).catch(() => null);
      if (status?.pid === child.pid) {
        slot.listening = true;
        return status;
      }
      await new Promise((r) => setTimeout(r, READY_POLL_MS));
    }
    return null;
  }

  /** Restarts the worker of `slot` whenever it dies, until the server stops. */
  watch(slot: Slot): void {
    const child = slot.child;
    child?.status.then(async (status) => {
      if (this.stopping || slot.child !== child) return;
      slot.child = null;
      slot.listening = false;
      slot.restarts++;
      slot.quickDeaths = Date.now() - slot.startedAt < QUICK_DEATH_MS ? slot.quickDeaths + 1 : 0;
      const delay = restartDelayMs(slot.quickDeaths);
      this.#logger.error({
        worker: slot.index,
        pid: child.pid,
        code: status.code,
        signal: status.signal,
        restarts: slot.restarts,
        delay_ms: delay,
      }, "worker died; restarting it");
      await Promise.race([new Promise((r) => setTimeout(r, delay)), this.stopped]);
      if (this.stopping) return;
      const listening = await this.start(slot);
      if (listening) {
        this.#logger.info(
          { worker: slot.index, pid: listening.pid, restarts: slot.restarts },
          "worker restarted",
        );
      }
      // A worker that exited before it listened is watched too: its death starts the next try.
      this.watch(slot);
    });
  }

  /** Sends SIGTERM to every worker and waits for all; true when each exited 0. */
  async drain(): Promise<boolean> {
    const exits = await Promise.all(this.slots.map(async (slot) => {
      const child = slot.child;
      if (!child) return true;
      try {
        child.kill("SIGTERM");
      } catch { /* already exiting */ }
      const status = await child.status;
      await slot.output;
      // One still starting may die of the SIGTERM: it had acknowledged nothing yet.
      if (status.code === 0 || !slot.listening) return true;
      this.#logger.error(
        { worker: slot.index, pid: child.pid, code: status.code, signal: status.signal },
        "worker did not drain cleanly",
      );
      return false;
    }));
    return exits.every(Boolean);
  }
}

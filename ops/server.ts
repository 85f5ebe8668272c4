/**
 * Herald's server lifecycle: load the config, build sinks and the app, serve,
 * reload on request, and drain (stop accepting, finish requests in flight,
 * flush and close every sink). {@linkcode startServer} is the importable
 * core; {@linkcode serve} adds the process: OS signals and the exit code.
 * Run as one of several worker processes (`ops/workers.ts`), it shares its
 * port with its siblings and answers `/metrics` and `/readyz` for all of
 * them (`ops/siblings.ts`).
 *
 * @module
 */
import pino, { type Logger } from "pino";
import { applyOverrides, type GatewayConfig, liveProblem, loadConfig } from "../config/mod.ts";
import { runtimeVersions } from "../config/versions.ts";
import { LiveHub, relayFeed, resolveLiveKey, tapFanOut } from "../live/mod.ts";
import { resolveWriteKeys, type SecretSource } from "../routes/guard.ts";
import { buildApp, DedupWindow, type WorkerView } from "../routes/mod.ts";
import { FanOut } from "../sinks/fan_out.ts";
import { createSinks, type SinkDefinition, SINKS } from "../sinks/mod.ts";
import { Metrics } from "./metrics.ts";
import { createReloader, type LoadResult, type ReloadOutcome, watchFile } from "./reload.ts";
import {
  relayLive,
  serveControl,
  siblingMetrics,
  siblingReadiness,
  workerFromEnv,
  type WorkerIdentity,
} from "./siblings.ts";

/** What to serve: the flags of `deno task serve`, plus what tests inject. */
export interface ServerOptions {
  /** The config file (`--config`). */
  config: string;
  /** `--port`; overrides the config and `PORT`. */
  port?: number;
  /** `--sinks a,b`; overrides the config and `HERALD_SINKS`. */
  sinks?: string;
  /** `--watch`: reload when the config file changes. */
  watch?: boolean;
  /** `--live`: serve the live events page, whatever `live.enabled` says. */
  live?: boolean;
  /** Environment lookups (default: the process environment). */
  env?: (name: string) => string | undefined;
  /** Herald's own log (default: JSON lines on stderr; stdout is the event stream). */
  logger?: Logger;
  /** The sinks that may be selected (default: every registered sink). */
  registry?: readonly SinkDefinition[];
  /** Where write-key and live-key values come from (default: env and files). */
  secrets?: SecretSource;
  /** Which of several worker processes this is (default: from `HERALD_WORKER`, else the only one). */
  worker?: WorkerIdentity;
}

/** A running server. */
export interface HeraldServer {
  /** The address it listens on. */
  readonly addr: Deno.NetAddr;
  /** The config serving now; a reload replaces it. */
  readonly config: GatewayConfig;
  readonly metrics: Metrics;
  /** Loads the config file again and applies it, or keeps the running one. */
  reload(reason: string): Promise<ReloadOutcome>;
  /**
   * Drains: stops accepting, waits up to `server.shutdown_timeout_ms` for
   * requests in flight, then flushes and closes the sinks. Rejects when a
   * sink fails to close. Calling it again returns the same drain.
   */
  stop(reason?: string): Promise<void>;
}

/** Addresses that only this machine can reach. */
const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

/** The server could not start; each line says why. */
export class StartError extends Error {
  readonly lines: string[];

  constructor(lines: string[]) {
    super(lines.join("\n"));
    this.name = "StartError";
    this.lines = lines;
  }
}

/** Herald's default log: JSON lines on stderr, naming the worker process when there are several. */
export function defaultLogger(worker?: { index: number }): Logger {
  const base = worker ? { service: "herald", worker: worker.index } : { service: "herald" };
  return pino({ base }, pino.destination({ dest: 2, sync: true }));
}

/**
 * Loads and validates the config file with the flags and environment of
 * `options` applied, as startup and every reload do.
 */
export async function loadServerConfig(options: ServerOptions): Promise<LoadResult> {
  const registry = options.registry ?? SINKS;
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const loaded = await loadConfig(options.config, { registry });
  if (!loaded.ok) return loaded;
  try {
    const overridden = applyOverrides(loaded.config, {
      registry,
      port: options.port,
      sinks: options.sinks,
      env,
    });
    const config = options.live
      ? { ...overridden, live: { ...overridden.live, enabled: true } }
      : overridden;
    const problem = liveProblem(config.live, config.auth.write_keys.length);
    if (problem) throw new Error(`--live: ${problem}`);
    resolveWriteKeys(config.auth.write_keys, options.secrets);
    if (config.live.enabled) resolveLiveKey(config.live, options.secrets);
    return { ok: true, config };
  } catch (error) {
    return { ok: false, errors: [`config "${options.config}": ${(error as Error).message}`] };
  }
}

/** The lines that say why `errors` stop a start. */
export function startErrors(errors: string[]): string[] {
  return errors.map((e) => e.startsWith("config ") ? `Cannot start with ${e}` : e);
}

/** Loads the config, creates the sinks and starts listening. Throws {@linkcode StartError}. */
export async function startServer(options: ServerOptions): Promise<HeraldServer> {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const worker = options.worker ?? workerFromEnv(env);
  const logger = options.logger ?? defaultLogger(worker);
  const registry = options.registry ?? SINKS;

  // Startup and reloads load the file the same way, with the same overrides.
  const load = () => loadServerConfig({ ...options, env, registry });

  const loaded = await load();
  if (!loaded.ok) {
    throw new StartError(startErrors(loaded.errors));
  }
  let config: GatewayConfig = loaded.config;
  const metrics = new Metrics();
  const sinks = await createSinks(config, { logger, metrics, worker, registry }).catch((error) => {
    throw new StartError([`Cannot start sinks: ${error instanceof Error ? error.message : error}`]);
  });
  const fanOut = new FanOut(sinks, {
    timeoutMs: config.server.ack_timeout_ms,
    readyQueueRatio: config.server.ready_queue_ratio,
    onWrite: metrics.observeWrite,
  });
  const health = await fanOut.health();
  for (const [name, h] of Object.entries(health.sinks)) {
    if (!h.ok) logger.warn({ sink: name, detail: h.detail }, "sink not ready; /readyz answers 503");
  }

  // Each request runs on the app that was current when it arrived, so a reload
  // never changes the config under a request in flight.
  const workers: WorkerView | undefined = worker && {
    index: worker.index,
    siblings: () => siblingReadiness(worker),
  };
  if (worker) metrics.gatherFrom(worker.count, () => siblingMetrics(worker));
  // One hub for the server's life: a reload keeps its buffer and its viewers.
  let hub: LiveHub | undefined;
  const liveOf = (next: GatewayConfig) => {
    if (!next.live.enabled) return undefined;
    if (!hub) {
      // With several workers, a page's stream relays every other worker's items too.
      const relay = worker && worker.count > 1 ? relayLive(worker) : undefined;
      hub = new LiveHub(next.live, { worker, relay });
    }
    return { hub, key: resolveLiveKey(next.live, options.secrets) };
  };
  // One dedup window for the process, kept across reloads.
  const dedup = new DedupWindow(config.dedup);
  // Once an app is serving (after the sinks took its config, so a reload
  // they refuse changes nothing): the hub and the dedup window take the
  // config's bounds, and the hub receives the acknowledged events.
  const serving = (next: GatewayConfig, live: ReturnType<typeof liveOf>) => {
    live?.hub.configure(next.live);
    tapFanOut(fanOut, live?.hub);
    if (!live) hub?.close();
    dedup.resize(next.dedup);
  };
  const warnIfOpen = (next: GatewayConfig, addr: Deno.NetAddr) => {
    if (!next.live.enabled || next.live.key_env || next.live.key_file) return;
    if (LOOPBACK.has(addr.hostname)) return;
    logger.warn(
      { hostname: addr.hostname, port: addr.port },
      "the live page is open to anyone who can reach this address: it shows every event; " +
        "give it a key (live.key_env or live.key_file) or listen on 127.0.0.1",
    );
  };
  const appOptions = { logger, metrics, secrets: options.secrets, workers, dedup };
  const live = liveOf(config);
  let app = buildApp(config, fanOut, { ...appOptions, live });
  serving(config, live);
  let reloads = 0;
  const { promise: listening, resolve: listened } = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    port: config.server.port,
    hostname: config.server.hostname,
    // The kernel spreads connections across the workers that share the port (Linux).
    reusePort: (worker?.count ?? 1) > 1,
    onListen: (addr) => listened(addr as Deno.NetAddr),
  }, (request, info) => app.fetch(request, info));
  const addr = await listening;
  const control = worker &&
    await serveControl(worker, {
      port: addr.port,
      metrics: () => metrics.own(),
      health: () => fanOut.health(),
      liveFeed: (request) => (hub && config.live.enabled ? relayFeed(hub, request) : null),
    });

  const reload = createReloader({
    current: () => config,
    load,
    async apply(next) {
      // Sinks first (new tables, new topics), so the new routes can write at once.
      const nextLive = liveOf(next);
      const nextApp = buildApp(next, fanOut, { ...appOptions, live: nextLive });
      await fanOut.reconfigure(next);
      app = nextApp;
      serving(next, nextLive);
      if (!config.live.enabled) warnIfOpen(next, addr);
      config = next;
      reloads++;
    },
    logger,
    count: (outcome) => metrics.reloaded(outcome),
  });
  const watcher = options.watch
    ? await watchFile(options.config, () => void reload("watch"))
    : undefined;
  // Logged last: a client that waits for this line may send SIGHUP or edit
  // the watched file at once, and must not beat the reloader to it.
  logger.info({
    port: addr.port,
    hostname: addr.hostname,
    config: options.config,
    sinks: config.sinks,
    fan_out: fanOut.policy,
    actions: config.actions.map((a) => a.name),
    write_keys: config.auth.write_keys.map((k) => k.name),
    rate_limit: {
      per_ip: config.rate_limit.per_ip ?? null,
      per_key: config.rate_limit.per_key ?? null,
    },
    cors_origins: config.cors.origins,
    watch: options.watch ?? false,
    live: config.live.enabled,
    ...(worker ? { workers: worker.count } : {}),
    versions: runtimeVersions(),
  }, "listening");
  warnIfOpen(config, addr);

  let stopping: Promise<void> | undefined;
  const drain = async (reason: string) => {
    watcher?.close();
    logger.info({ signal: reason, reloads }, "draining");
    // Live viewers' streams never end by themselves: end them, or the drain waits for them.
    hub?.close();
    const deadline = config.server.shutdown_timeout_ms;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = await Promise.race([
      server.shutdown().then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), deadline))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      logger.warn({ deadline_ms: deadline }, "requests still in flight at the deadline");
    }
    try {
      await fanOut.close();
    } finally {
      await control?.shutdown();
    }
    logger.info("stopped");
  };
  return {
    addr,
    get config() {
      return config;
    },
    metrics,
    reload,
    stop: (reason = "stop") => (stopping ??= drain(reason)),
  };
}

/**
 * Runs Herald as a process: SIGTERM or SIGINT drains (also during startup),
 * SIGHUP reloads once serving. Resolves to the exit code.
 */
export async function serve(options: ServerOptions): Promise<number> {
  const worker = options.worker ?? workerFromEnv(options.env ?? ((n) => Deno.env.get(n)));
  const logger = options.logger ?? defaultLogger(worker);
  // Listen for signals before anything else, so a SIGTERM during startup still
  // drains instead of killing the process.
  const { promise: stopRequested, resolve: requestStop } = Promise.withResolvers<string>();
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(signal, () => requestStop(signal));
  }
  // A worker's stdin is a pipe from its supervisor: its end means the
  // supervisor is gone (even by kill -9), and the worker drains.
  if (worker) {
    Deno.stdin.readable.pipeTo(new WritableStream()).catch(() => {})
      .then(() => requestStop("supervisor gone"));
  }
  // A SIGHUP before the first config serves is ignored; from then on it reloads.
  // (Windows has no SIGHUP: there, --watch is the way to reload.)
  let requestReload = (_reason: string) => {};
  if (Deno.build.os !== "windows") {
    Deno.addSignalListener("SIGHUP", () => requestReload("SIGHUP"));
  }

  let server: HeraldServer;
  try {
    server = await startServer({ ...options, worker, logger });
  } catch (error) {
    if (!(error instanceof StartError)) throw error;
    for (const line of error.lines) console.error(line);
    return 1;
  }
  requestReload = (reason) => void server.reload(reason);
  const signal = await stopRequested;
  try {
    await server.stop(signal);
  } catch (error) {
    logger.error({ err: error }, "a sink failed to close");
    return 1;
  }
  return 0;
}

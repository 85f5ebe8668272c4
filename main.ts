/**
 * Herald's entry point: parse flags, load config, build sinks and the app,
 * serve, reload the config on SIGHUP (and file changes with --watch), and
 * drain on SIGTERM/SIGINT. Wiring only.
 *
 * @module
 */
import { parseArgs } from "node:util";
import pino from "pino";
import { applyOverrides, type GatewayConfig, loadConfig } from "./config/mod.ts";
import { Metrics } from "./ops/metrics.ts";
import { createReloader, type LoadResult, watchFile } from "./ops/reload.ts";
import { buildApp } from "./routes/mod.ts";
import { resolveWriteKeys } from "./routes/guard.ts";
import { runtimeVersions } from "./config/versions.ts";
import { FanOut } from "./sinks/fan_out.ts";
import { createSinks } from "./sinks/mod.ts";

const USAGE = `Usage: deno task serve [--config <path>] [--port <n>] [--sinks a,b] [--watch]

  --config <path>  config file (default config/gateway.yaml)
  --port <n>       port to listen on (default from config, env PORT)
  --sinks a,b      sinks to write to (default from config, env HERALD_SINKS)
  --watch          reload the config when its file changes (SIGHUP always reloads)`;

function fail(lines: string[]): never {
  for (const line of lines) console.error(line);
  Deno.exit(1);
}

const { values: flags } = (() => {
  try {
    return parseArgs({
      args: Deno.args,
      options: {
        config: { type: "string", default: "config/gateway.yaml" },
        port: { type: "string" },
        sinks: { type: "string" },
        watch: { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    return fail([(error as Error).message, USAGE]);
  }
})();
if (flags.help) {
  console.error(USAGE);
  Deno.exit(0);
}

// Herald's own logs go to stderr: stdout is the event stream.
const logger = pino({ base: { service: "herald" } }, pino.destination({ dest: 2, sync: true }));

// Listen for signals before anything else, so a SIGTERM during startup still
// drains instead of killing the process.
let requestStop!: (signal: string) => void;
const stopRequested = new Promise<string>((resolve) => (requestStop = resolve));
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.addSignalListener(signal, () => requestStop(signal));
}

let reloads = 0;
// A SIGHUP before the first config serves is ignored; from then on it reloads.
// (Windows has no SIGHUP: there, --watch is the way to reload.)
let requestReload: (reason: string) => void = () => {};
if (Deno.build.os !== "windows") {
  Deno.addSignalListener("SIGHUP", () => requestReload("SIGHUP"));
}

/** Loads the config file with the flags and env applied; startup and reloads share it. */
async function load(): Promise<LoadResult> {
  const loaded = await loadConfig(flags.config);
  if (!loaded.ok) return loaded;
  try {
    const config = applyOverrides(loaded.config, {
      port: flags.port === undefined ? undefined : Number(flags.port),
      sinks: flags.sinks,
      env: (name) => Deno.env.get(name),
    });
    resolveWriteKeys(config.auth.write_keys);
    return { ok: true, config };
  } catch (error) {
    return { ok: false, errors: [`config "${flags.config}": ${(error as Error).message}`] };
  }
}

const loaded = await load();
if (!loaded.ok) {
  fail(loaded.errors.map((e) => e.startsWith("config ") ? `Cannot start with ${e}` : e));
}
let config: GatewayConfig = loaded.config;

const metrics = new Metrics();
const sinks = await createSinks(config, logger, metrics).catch((error) =>
  fail([`Cannot start sinks: ${error instanceof Error ? error.message : error}`])
);
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
let app = buildApp(config, fanOut, { logger, metrics });
const server = Deno.serve({
  port: config.server.port,
  hostname: config.server.hostname,
  onListen: ({ port, hostname }) =>
    logger.info({
      port,
      hostname,
      config: flags.config,
      sinks: config.sinks,
      actions: config.actions.map((a) => a.name),
      write_keys: config.auth.write_keys.map((k) => k.name),
      rate_limit: {
        per_ip: config.rate_limit.per_ip ?? null,
        per_key: config.rate_limit.per_key ?? null,
      },
      cors_origins: config.cors.origins,
      watch: flags.watch,
      versions: runtimeVersions(),
    }, "listening"),
}, (request, info) => app.fetch(request, info));

const reload = createReloader({
  current: () => config,
  load,
  async apply(next) {
    // Sinks first (new tables, new topics), so the new routes can write at once.
    const nextApp = buildApp(next, fanOut, { logger, metrics });
    await fanOut.reconfigure(next);
    app = nextApp;
    config = next;
    reloads++;
  },
  logger,
  count: (outcome) => metrics.reloaded(outcome),
});
requestReload = (reason) => void reload(reason);
const watcher = flags.watch
  ? await watchFile(flags.config, () => requestReload("watch"))
  : undefined;

// Drain: stop accepting, finish requests in flight, flush and close every sink.
const signal = await stopRequested;
watcher?.close();
logger.info({ signal, reloads }, "draining");
const deadline = config.server.shutdown_timeout_ms;
const timedOut = await Promise.race([
  server.shutdown().then(() => false),
  new Promise<boolean>((r) => setTimeout(() => r(true), deadline)),
]);
if (timedOut) logger.warn({ deadline_ms: deadline }, "requests still in flight at the deadline");
try {
  await fanOut.close();
} catch (error) {
  logger.error({ err: error }, "a sink failed to close");
  Deno.exit(1);
}
logger.info("stopped");
Deno.exit(0);

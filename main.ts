/**
 * Herald's entry point: parse flags and serve. The lifecycle (signals, reload,
 * drain) is `ops/server.ts`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { serve } from "./ops/server.ts";
import { WORKER_ENV } from "./ops/siblings.ts";
import { parseWorkers, superviseWorkers } from "./ops/workers.ts";

const USAGE =
  `Usage: deno task serve [--config <path>] [--port <n>] [--sinks a,b] [--workers <n>] [--watch]
                       [--live]

  --config <path>  config file (default config/gateway.yaml)
  --port <n>       port to listen on (default from config, env PORT)
  --sinks a,b      sinks to write to (default from config, env HERALD_SINKS)
  --workers <n>    serving processes on the port, or "auto" for one per core
                   (default 1, env HERALD_WORKERS; Linux)
  --watch          reload the config when its file changes (SIGHUP always reloads)
  --live           serve the live events page at /live (or live.enabled in config)`;

function flags(args: string[]) {
  try {
    return parseArgs({
      args,
      options: {
        config: { type: "string", default: "config/gateway.yaml" },
        port: { type: "string" },
        sinks: { type: "string" },
        workers: { type: "string" },
        watch: { type: "boolean", default: false },
        live: { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (error) {
    console.error((error as Error).message);
    console.error(USAGE);
    return Deno.exit(1);
  }
}

/** The number of worker processes asked for; exits naming the flag or variable when invalid. */
function workerCount(flag: string | undefined): number {
  // A worker process itself serves: its supervisor gave it its identity.
  if (Deno.env.get(WORKER_ENV)) return 1;
  try {
    return flag === undefined
      ? parseWorkers(Deno.env.get("HERALD_WORKERS"), "HERALD_WORKERS")
      : parseWorkers(flag, "--workers");
  } catch (error) {
    console.error(`Cannot start: ${(error as Error).message}`);
    return Deno.exit(1);
  }
}

if (import.meta.main) {
  const { help, port, workers: workersFlag, ...options } = flags(Deno.args);
  if (help) {
    console.error(USAGE);
    Deno.exit(0);
  }
  const workers = workerCount(workersFlag);
  const server = { ...options, port: port === undefined ? undefined : Number(port) };
  Deno.exit(
    await (workers > 1
      ? superviseWorkers({ ...server, workers, main: import.meta.url })
      : serve(server)),
  );
}

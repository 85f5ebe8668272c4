/**
 * Herald's entry point: parse flags and serve. The lifecycle (signals, reload,
 * drain) is `ops/server.ts`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { serve } from "./ops/server.ts";

const USAGE = `Usage: deno task serve [--config <path>] [--port <n>] [--sinks a,b] [--watch]

  --config <path>  config file (default config/gateway.yaml)
  --port <n>       port to listen on (default from config, env PORT)
  --sinks a,b      sinks to write to (default from config, env HERALD_SINKS)
  --watch          reload the config when its file changes (SIGHUP always reloads)`;

function flags(args: string[]) {
  try {
    return parseArgs({
      args,
      options: {
        config: { type: "string", default: "config/gateway.yaml" },
        port: { type: "string" },
        sinks: { type: "string" },
        watch: { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (error) {
    console.error((error as Error).message);
    console.error(USAGE);
    return Deno.exit(1);
  }
}

if (import.meta.main) {
  const { help, port, ...options } = flags(Deno.args);
  if (help) {
    console.error(USAGE);
    Deno.exit(0);
  }
  Deno.exit(await serve({ ...options, port: port === undefined ? undefined : Number(port) }));
}

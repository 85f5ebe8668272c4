/**
 * The flags of `deno task load`: its usage text and their parsing into
 * {@linkcode LoadOptions}.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  DEFAULT_CONFIG,
  DEFAULT_URL,
  LoadError,
  type LoadOptions,
  parseDuration,
} from "./options.ts";

/** The usage text of `deno task load`. */
export const USAGE = `Usage: deno task load [flags]

Sends generated game traffic to a running Herald: a weighted mix of the
config's actions with valid random field values, from fake users that each
send their own Host header. Prints requests/s, events/s, latency percentiles
and the count of every status.

  --config <path>       Herald config (default ${DEFAULT_CONFIG})
  --url <url>           target (default ${DEFAULT_URL})
  --mix a=5,b=2         weighted actions; a bare name weighs 1 (default: every action, 1)
  --users <n>           fake users, each with its own Host header (default 10)
  --concurrency <n>     connections, one request at a time each (default 50)
  --requests <n>        stop after n requests
  --duration <d>        stop after d, such as 500ms, 30s, 2m (default 10s without --requests)
  --rate <r>            open loop: r requests/s at fixed intervals, latency counted
                        from each request's scheduled time
  --batch <k>           send POST /events with k events per request
  --batch-format <f>    ndjson (default) or json
  --timeout <d>         drop a request unanswered after d (default 10s)
  --json                print the summary as one JSON object on stdout
  --help                this text

Progress goes to stderr. Exit code 0 when the run finished (non-2xx answers
included), 1 on a bad flag value, config or unreachable target, 2 on a usage
error.

Examples:
  deno task load --mix purchase_a_sword=5,join_guild=2 --users 100 --duration 30s
  deno task load --rate 2000 --duration 1m --json
  deno task load --batch 100 --requests 1000`;

/** Flags that are not flags of the load tool; the CLI prints them with the usage and exits 2. */
export class LoadUsageError extends Error {
  override name = "LoadUsageError";
}

/** The flags as given: the run's options (values still to check), or a request for help. */
export type LoadArgs =
  | { help: true }
  | { help: false; json: boolean; options: () => LoadOptions };

const COUNT_TEXT = /^\d+$/;
const NUMBER_TEXT = /^(\d+(\.\d*)?|\.\d+)$/;

function flagCount(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!COUNT_TEXT.test(text) || Number(text) < 1) {
    throw new LoadError(`Invalid --${flag} "${text}": expected a positive integer`);
  }
  return Number(text);
}

/**
 * Parses the flags. Throws {@linkcode LoadUsageError} on an unknown or
 * malformed flag; `options()` throws {@linkcode LoadError} on a bad value.
 */
export function parseLoadArgs(args: string[]): LoadArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        config: { type: "string", default: DEFAULT_CONFIG },
        url: { type: "string", default: DEFAULT_URL },
        mix: { type: "string" },
        users: { type: "string" },
        concurrency: { type: "string" },
        requests: { type: "string" },
        duration: { type: "string" },
        rate: { type: "string" },
        batch: { type: "string" },
        "batch-format": { type: "string" },
        timeout: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (error) {
    throw new LoadUsageError((error as Error).message);
  }
  if (values.help) return { help: true };
  const options = (): LoadOptions => {
    const rate = values.rate;
    if (rate !== undefined && !NUMBER_TEXT.test(rate)) {
      throw new LoadError(`Invalid --rate "${rate}": expected a number of requests per second`);
    }
    const format = values["batch-format"];
    if (format !== undefined && format !== "ndjson" && format !== "json") {
      throw new LoadError(`Invalid --batch-format "${format}": expected ndjson or json`);
    }
    return {
      url: values.url,
      config: values.config,
      mix: values.mix,
      users: flagCount("users", values.users),
      concurrency: flagCount("concurrency", values.concurrency),
      requests: flagCount("requests", values.requests),
      durationMs: values.duration === undefined ? undefined : parseDuration(values.duration),
      rate: rate === undefined ? undefined : Number(rate),
      batch: flagCount("batch", values.batch),
      batchFormat: format,
      timeoutMs: values.timeout === undefined ? undefined : parseDuration(values.timeout),
    };
  };
  return { help: false, json: values.json, options };
}

/**
 * What a load run is asked to do: the options of {@linkcode runLoad}, their
 * defaults, and their checks, which turn them into a {@linkcode LoadPlan} or
 * throw {@linkcode LoadError} before anything is sent.
 *
 * @module
 */
import type { ActionConfig, GatewayConfig } from "../../config/mod.ts";

/** The config file read when none is given. */
export const DEFAULT_CONFIG = "config/gateway.yaml";
/** The target when none is given. */
export const DEFAULT_URL = "http://127.0.0.1:5000";
/** How long a run lasts when neither a request count nor a duration is given. */
export const DEFAULT_DURATION_MS = 10_000;

/** An option, config or target that cannot be used; the CLI exits 1 on it. */
export class LoadError extends Error {
  override name = "LoadError";
}

/** What {@linkcode runLoad} reports while it runs. */
export interface LoadProgress {
  elapsedMs: number;
  /** Requests finished (answered or failed). */
  requests: number;
  events: number;
  /** Requests that got no HTTP answer. */
  errors: number;
  /** Answers with a status outside 2xx. */
  non2xx: number;
  /** Share of the run done, from 0 to 1. */
  done: number;
}

/** Options of {@linkcode runLoad}. */
export interface LoadOptions {
  /** Herald's base URL, such as `http://127.0.0.1:5000` (`http:` only). */
  url: string;
  /** The parsed config, or the path of a config file. */
  config: GatewayConfig | string;
  /** Weighted actions: see {@linkcode parseMix}. Default: every action, weight 1. */
  mix?: string | Readonly<Record<string, number>>;
  /** Fake users, each with its own `Host` header (default 10). */
  users?: number;
  /** Connections, each with one request at a time (default 50). */
  concurrency?: number;
  /** Stop after this many requests. */
  requests?: number;
  /** Stop issuing requests after this long (default 10 s when `requests` is not given either). */
  durationMs?: number;
  /** Open loop: requests per second at fixed intervals. */
  rate?: number;
  /** Events per request, sent to `POST /events`; 0 or absent sends one `GET` per event. */
  batch?: number;
  /** How a batch body is written (default `ndjson`). */
  batchFormat?: "ndjson" | "json";
  /** A request with no answer after this long fails and its connection is dropped (default 10 s). */
  timeoutMs?: number;
  /** Randomness, numbers in [0, 1) (default `Math.random`). */
  random?: () => number;
  /** Stops issuing requests; those in flight still finish. */
  signal?: AbortSignal;
  /** Called every `progressIntervalMs` while running. */
  onProgress?: (progress: LoadProgress) => void;
  /** Default 1000. */
  progressIntervalMs?: number;
}

const DURATION = /^(\d+(?:\.\d*)?|\.\d+)(ms|s|m)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };

/**
 * Parses a duration such as `500ms`, `30s`, `1.5m` or `30` (seconds) into
 * milliseconds. Throws {@linkcode LoadError} on anything else.
 */
export function parseDuration(text: string): number {
  const match = DURATION.exec(text.trim());
  if (!match) {
    throw new LoadError(
      `Invalid duration "${text}": use a number with ms, s or m, such as 500ms, 30s or 2m`,
    );
  }
  return Number(match[1]) * UNIT_MS[match[2] ?? "s"]!;
}

/** One action of a mix and its relative weight. */
export interface MixEntry {
  action: ActionConfig;
  weight: number;
}

/**
 * Resolves a mix of actions: text such as `"purchase_a_sword=5,join_guild=2"`
 * (a bare name weighs 1) or an object of weights. Absent or empty means every
 * action at weight 1. Actions given weight 0 are left out. Throws
 * {@linkcode LoadError} on an unknown or repeated action and on a bad weight.
 */
export function parseMix(
  mix: string | Readonly<Record<string, number>> | undefined,
  actions: readonly ActionConfig[],
): MixEntry[] {
  if (mix === undefined || (typeof mix === "string" && mix.trim() === "")) {
    return actions.map((action) => ({ action, weight: 1 }));
  }
  const pairs: [string, string | number][] = typeof mix === "string"
    ? mix.split(",").map((s) => s.trim()).filter(Boolean).map((part) => {
      const eq = part.indexOf("=");
      return eq < 0 ? [part, 1] : [part.slice(0, eq).trim(), part.slice(eq + 1).trim()];
    })
    : Object.entries(mix);
  const known = new Map(actions.map((a) => [a.name, a]));
  const seen = new Set<string>();
  const entries: MixEntry[] = [];
  for (const [name, raw] of pairs) {
    const action = known.get(name);
    if (!action) {
      const names = [...known.keys()].map((n) => `"${n}"`).join(", ");
      throw new LoadError(`Unknown action "${name}" in the mix (expected one of ${names})`);
    }
    if (seen.has(name)) throw new LoadError(`Action "${name}" is given twice in the mix`);
    seen.add(name);
    const weight = typeof raw === "number"
      ? raw
      : /^(\d+(\.\d*)?|\.\d+)$/.test(raw)
      ? Number(raw)
      : NaN;
    if (!Number.isFinite(weight) || weight < 0) {
      throw new LoadError(
        `Invalid weight "${raw}" for action "${name}": expected a number of at least 0`,
      );
    }
    if (weight > 0) entries.push({ action, weight });
  }
  if (entries.length === 0) throw new LoadError("The mix gives no action a weight above 0");
  return entries;
}

/** Where requests go. */
export interface Target {
  hostname: string;
  port: number;
  basePath: string;
}

function parseTarget(url: string): Target {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new LoadError(`Invalid URL "${url}"`);
  }
  if (parsed.protocol !== "http:") {
    throw new LoadError(`Unsupported URL "${url}": only http:// targets are supported`);
  }
  if (parsed.search !== "" || parsed.hash !== "") {
    throw new LoadError(`Invalid URL "${url}": give a base URL without query or fragment`);
  }
  return {
    hostname: parsed.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: parsed.port === "" ? 80 : Number(parsed.port),
    basePath: parsed.pathname.replace(/\/+$/, ""),
  };
}

function checkCount(name: string, value: number, min = 1): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new LoadError(`Invalid ${name} "${value}": expected an integer of at least ${min}`);
  }
  return value;
}

function checkPositive(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new LoadError(`Invalid ${name} "${value}": expected a number above 0`);
  }
  return value;
}

/** The options of a run, checked, with every default filled in. */
export interface LoadPlan {
  target: Target;
  mix: MixEntry[];
  users: number;
  concurrency: number;
  /** Requests to send; `Infinity` when the duration ends the run. */
  limit: number;
  /** `Infinity` when the request count ends the run. */
  durationMs: number;
  /** Requests per second in an open loop; 0 for a closed loop. */
  rate: number;
  /** Events per `POST /events`; 0 sends one `GET` per event. */
  batch: number;
  batchFormat: "ndjson" | "json";
  timeoutMs: number;
  progressIntervalMs: number;
  random: () => number;
}

/** Checks `options` against `config`; throws {@linkcode LoadError} on an unusable one. */
export function planLoad(options: LoadOptions, config: GatewayConfig): LoadPlan {
  const target = parseTarget(options.url);
  const mix = parseMix(options.mix, config.actions);
  const users = checkCount("users", options.users ?? 10);
  const concurrency = checkCount("concurrency", options.concurrency ?? 50);
  const limit = options.requests === undefined
    ? Infinity
    : checkCount("requests", options.requests);
  const durationMs = options.durationMs !== undefined
    ? checkPositive("duration", options.durationMs)
    : limit === Infinity
    ? DEFAULT_DURATION_MS
    : Infinity;
  const rate = options.rate === undefined ? 0 : checkPositive("rate", options.rate);
  const batch = checkCount("batch", options.batch ?? 0, 0);
  if (batch > config.server.max_batch_events) {
    throw new LoadError(
      `Invalid batch "${batch}": the config allows at most ${config.server.max_batch_events} events per batch (server.max_batch_events)`,
    );
  }
  const batchFormat = options.batchFormat ?? "ndjson";
  if (batchFormat !== "ndjson" && batchFormat !== "json") {
    throw new LoadError(`Invalid batch format "${batchFormat}": expected ndjson or json`);
  }
  return {
    target,
    mix,
    users,
    concurrency,
    limit,
    durationMs,
    rate,
    batch,
    batchFormat,
    timeoutMs: checkPositive("timeout", options.timeoutMs ?? 10_000),
    progressIntervalMs: checkPositive("progress interval", options.progressIntervalMs ?? 1000),
    random: options.random ?? Math.random,
  };
}

/**
 * The top-level sections of the config file: Herald's own (`server:`,
 * `enrich:`, `sinks:`, the guards and `actions:`), and the contract a sink's
 * section follows. The sinks' sections are passed in; config never imports
 * the sinks.
 *
 * @module
 */
import { actionsSchema } from "./actions.ts";
import { clientTimeSchema, dedupSchema } from "./client.ts";
import { guardSchemas } from "./guards.ts";
import { liveSchema } from "./live.ts";
import { segmentSchema } from "./segment.ts";
import {
  boolean,
  codeList,
  doc,
  type Infer,
  list,
  number,
  object,
  positiveInt,
  type Schema,
  string,
  withDefault,
} from "./schema.ts";

/**
 * A config section that a plug-in (a sink) declares: its key, its schema, and
 * the environment variables that override it. The registry of sections is
 * passed in; config never imports the sinks.
 */
export interface ConfigSection<O = unknown> {
  /** The section's key in the config file; also the name used in `sinks:` and `--sinks`. */
  readonly name: string;
  /** Schema of the section; every key needs a default. */
  readonly options: Schema<O>;
  /** Applies environment overrides (e.g. `KAFKA_BROKERS`) to parsed options. */
  fromEnv?(options: O, env: (name: string) => string | undefined): O;
}

const serverSchema = object({
  port: doc(
    withDefault(number({ integer: true, min: 0, max: 65535 }), 5000),
    "listening port (0 to 65535; env `PORT`, flag `--port`)",
  ),
  hostname: doc(withDefault(string({ minLength: 1 }), "0.0.0.0"), "listening address"),
  max_body_bytes: doc(
    withDefault(positiveInt(), 65536),
    "larger request bodies get 413, as sent and again once decompressed (`Content-Encoding`)",
  ),
  max_batch_events: doc(withDefault(positiveInt(), 1000), "larger batches get 413"),
  max_event_bytes: doc(
    withDefault(positiveInt(), 8192),
    "one event's JSON (batch item, POST body, query string): a larger item is rejected, " +
      "a larger request gets 413",
  ),
  // Events are flat, so a few levels suffice.
  max_json_depth: doc(
    withDefault(positiveInt(), 8),
    "bodies nesting arrays or objects deeper get 400 (checked before parsing)",
  ),
  // Bounds a client trickling bytes.
  body_timeout_ms: doc(
    withDefault(positiveInt(), 10000),
    "a body not fully received by then gets 408",
  ),
  trust_proxy: doc(
    withDefault(boolean(), false),
    "true: `client_ip` is the last `X-Forwarded-For` entry (the one your proxy added); " +
      "only behind your own proxy (env `HERALD_TRUST_PROXY`)",
  ),
  ack_timeout_ms: doc(
    withDefault(positiveInt(), 5000),
    "sinks must confirm within this, else 503",
  ),
  shutdown_timeout_ms: doc(
    withDefault(positiveInt(), 10000),
    "how long SIGTERM waits for requests in flight",
  ),
  ready_queue_ratio: doc(
    withDefault(number({ min: 0.01, max: 1 }), 0.8),
    "`/readyz` answers 503 once a sink's queue is this full (fraction of its limit, 0.01 to 1), " +
      "before writes 503",
  ),
});

/** The `server:` section. */
export type ServerConfig = Infer<typeof serverSchema>;

const headerName = string({ pattern: /^[a-z0-9-]+$/, hint: "use a lowercase header name" });

/** Herald's own sections, in the order unknown-key errors list them. */
export const coreSchemas = {
  server: serverSchema,
  enrich: object({
    headers: doc(
      withDefault(list(headerName), ["host", "user-agent", "accept"]),
      "headers copied into events (lowercase names)",
    ),
  }),
  actions: actionsSchema,
  ...guardSchemas,
  live: liveSchema,
  dedup: dedupSchema,
  client_time: clientTimeSchema,
  segment: segmentSchema,
};

/** The `sinks:` list: names from the registry, each at most once (checked after parsing). */
export function sinksSchema(registry: readonly ConfigSection[]): Schema<string[]> {
  const names = registry.map((s) => s.name);
  return doc(
    withDefault(list(string({ values: names }), { min: 1 }), ["stdout"]),
    `sinks every event goes to: ${codeList(names, ", ")}, each once ` +
      "(env `HERALD_SINKS`, flag `--sinks`)",
    { default: "`[stdout]` (shipped: `[stdout, parquet]`)" },
  );
}

/** Every section, Herald's and the registry's, in the order the config reference lists them. */
export function configSections(registry: readonly ConfigSection[]): ConfigSection[] {
  const core = { ...coreSchemas, sinks: sinksSchema(registry) };
  const order = [
    "server",
    "enrich",
    "sinks",
    "dedup",
    "client_time",
    "auth",
    "rate_limit",
    "cors",
    "live",
    "segment",
    "actions",
  ] as const;
  return [...order.map((name) => ({ name, options: core[name] })), ...registry];
}

/**
 * The top-level sections of the config file: Herald's own (`server:`,
 * `enrich:`, `sinks:`, the guards and `actions:`), and the contract a sink's
 * section follows. The sinks' sections are passed in; config never imports
 * the sinks.
 *
 * @module
 */
import { actionsSchema } from "./actions.ts";
import { guardSchemas } from "./guards.ts";
import {
  boolean,
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
  port: withDefault(number({ integer: true, min: 0, max: 65535 }), 5000),
  hostname: withDefault(string({ minLength: 1 }), "0.0.0.0"),
  max_body_bytes: withDefault(positiveInt(), 65536),
  max_batch_events: withDefault(positiveInt(), 1000),
  /** One event's JSON (a batch item, a POST body or a query string), in bytes. */
  max_event_bytes: withDefault(positiveInt(), 8192),
  /** Arrays and objects open at once in a body; events are flat, so a few levels suffice. */
  max_json_depth: withDefault(positiveInt(), 8),
  /** The whole body must arrive within this; a client trickling bytes gets 408. */
  body_timeout_ms: withDefault(positiveInt(), 10000),
  trust_proxy: withDefault(boolean(), false),
  ack_timeout_ms: withDefault(positiveInt(), 5000),
  shutdown_timeout_ms: withDefault(positiveInt(), 10000),
  /** /readyz answers 503 once a sink's queue is this full (a fraction of its limit). */
  ready_queue_ratio: withDefault(number({ min: 0.01, max: 1 }), 0.8),
});

/** The `server:` section. */
export type ServerConfig = Infer<typeof serverSchema>;

const headerName = string({ pattern: /^[a-z0-9-]+$/, hint: "use a lowercase header name" });

/** Herald's own sections, in the order unknown-key errors list them. */
export const coreSchemas = {
  server: serverSchema,
  enrich: object({ headers: withDefault(list(headerName), ["host", "user-agent", "accept"]) }),
  actions: actionsSchema,
  ...guardSchemas,
};

/** The `sinks:` list: names from the registry, each at most once (checked after parsing). */
export function sinksSchema(registry: readonly ConfigSection[]): Schema<string[]> {
  return withDefault(
    list(string({ values: registry.map((s) => s.name) }), { min: 1 }),
    ["stdout"],
  );
}

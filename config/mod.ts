/**
 * Herald's config: its types, a pure {@linkcode parseConfig} (YAML text in,
 * typed config or a list of `file:line: key.path: problem` errors out), and the
 * thin file and override wrappers used at startup.
 *
 * @module
 */
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { BASE_COLUMNS, headerColumn, isSensitiveHeader } from "./columns.ts";
import { type FieldSpec, parseFieldSpec } from "./fields.ts";
import {
  boolean,
  formatPath,
  type Infer,
  type Issue,
  list,
  number,
  object,
  optional,
  type Path,
  positiveInt,
  type Schema,
  string,
  withDefault,
} from "./schema.ts";

/** A game action: one route, one event type, one table. */
export interface ActionConfig {
  name: string;
  path: string;
  event_type: string;
  table: string;
  response: string;
  fields: FieldSpec[];
}

/** The whole validated config. */
export interface GatewayConfig {
  server: ServerConfig;
  enrich: { headers: string[] };
  sinks: string[];
  auth: AuthConfig;
  rate_limit: RateLimitConfig;
  cors: CorsConfig;
  actions: ActionConfig[];
  /** Each registered sink's parsed section, by sink name. */
  sinkOptions: Record<string, unknown>;
}

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

/** Options of {@linkcode parseConfig} and {@linkcode loadConfig}. */
export interface ParseOptions {
  /** The sinks' sections: the names `sinks:` may list, and each one's config section. */
  registry: readonly ConfigSection[];
  /** Labels error messages (default `config`; {@linkcode loadConfig} gives the path). */
  file?: string;
}

/** Outcome of {@linkcode parseConfig}. */
export type ParseResult = { ok: true; config: GatewayConfig } | { ok: false; errors: string[] };

/** Paths Herald serves itself. */
export const RESERVED_PATHS = ["/events", "/healthz", "/readyz", "/metrics"] as const;

const IDENTIFIER = { pattern: /^[a-z][a-z0-9_]*$/, hint: "use lowercase letters, digits and _" };

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

const writeKeyFields = object({
  name: string(IDENTIFIER),
  value_env: optional(string({ pattern: /^[A-Za-z_][A-Za-z0-9_]*$/, hint: "an env name" })),
  value_file: optional(string({ minLength: 1 })),
  /** Requests with this key must also be signed (server-to-server senders). */
  hmac: withDefault(boolean(), false),
});

/** One write key: its name, and where its value comes from (never the YAML). */
export type WriteKeyConfig = Infer<typeof writeKeyFields>;

const writeKeySchema: Schema<WriteKeyConfig> = {
  parse(value, path, issues) {
    if (typeof value === "object" && value !== null && Object.hasOwn(value, "value")) {
      issues.push({
        path: [...path, "value"],
        message: "a key's value never goes in the config: use value_env or value_file",
        key: true,
      });
      return undefined;
    }
    const key = writeKeyFields.parse(value, path, issues);
    if (key && (key.value_env === undefined) === (key.value_file === undefined)) {
      issues.push({ path, message: "give exactly one of value_env and value_file" });
      return undefined;
    }
    return key;
  },
};

const bucketSchema = object({
  rate_per_s: number({ min: 0.001 }),
  burst: positiveInt(),
});

const guardSchemas = {
  /** Write keys; none (the default) means anyone may send events. */
  auth: object({
    write_keys: withDefault(list(writeKeySchema), []),
    /** Signed requests older (or newer) than this are refused as replays. */
    hmac_max_age_s: withDefault(positiveInt(), 300),
  }),
  /** Token buckets per client IP and per write key; absent means no limit. */
  rate_limit: object({
    per_ip: optional(bucketSchema),
    per_key: optional(bucketSchema),
    /** Buckets kept at most; the least recently used go first. */
    max_tracked: withDefault(positiveInt(), 100_000),
  }),
  /** Browser origins allowed to call Herald; none (the default) sends no CORS headers. */
  cors: object({
    origins: withDefault(list(string({ minLength: 1 })), []),
    credentials: withDefault(boolean(), false),
    max_age_s: withDefault(positiveInt(), 600),
  }),
};

/** The `auth:`, `rate_limit:` and `cors:` sections. */
export type AuthConfig = Infer<typeof guardSchemas.auth>;
/** The `rate_limit:` section. */
export type RateLimitConfig = Infer<typeof guardSchemas.rate_limit>;
/** The `cors:` section. */
export type CorsConfig = Infer<typeof guardSchemas.cors>;

const headerName = string({ pattern: /^[a-z0-9-]+$/, hint: "use a lowercase header name" });

const fieldsSchema: Schema<FieldSpec[]> = {
  parse(value, path, issues) {
    if (value === null) return [];
    if (typeof value !== "object" || Array.isArray(value)) {
      issues.push({ path, message: "expected a map of field name to field spec" });
      return undefined;
    }
    const before = issues.length;
    const out: FieldSpec[] = [];
    for (const [name, raw] of Object.entries(value)) {
      if (!IDENTIFIER.pattern.test(name)) {
        issues.push({
          path: [...path, name],
          message: `invalid field name: ${IDENTIFIER.hint}`,
          key: true,
        });
        continue;
      }
      const spec = parseFieldSpec(name, raw, [...path, name], issues);
      if (spec) out.push(spec);
    }
    return issues.length > before ? undefined : out;
  },
  fallback: () => [],
};

const actionSchema = object({
  name: string(IDENTIFIER),
  path: optional(
    string({ pattern: /^\/[A-Za-z0-9_\-./]*$/, hint: "a path like /purchase_a_sword" }),
  ),
  event_type: optional(string(IDENTIFIER)),
  table: withDefault(string(IDENTIFIER), "events"),
  response: withDefault(string(), "OK\n"),
  fields: fieldsSchema,
});

const coreSchemas = {
  server: serverSchema,
  enrich: object({ headers: withDefault(list(headerName), ["host", "user-agent", "accept"]) }),
  actions: list(actionSchema, { min: 1 }),
  ...guardSchemas,
};

type Root = Infer<ReturnType<typeof object<typeof coreSchemas>>> & {
  sinks: string[];
  [section: string]: unknown;
};

function rootSchema(sections: readonly ConfigSection[]): Schema<Root> {
  return object({
    ...coreSchemas,
    sinks: withDefault(
      list(string({ values: sections.map((s) => s.name) }), { min: 1 }),
      ["stdout"],
    ),
    ...Object.fromEntries(sections.map((s) => [s.name, s.options])),
  }) as Schema<Root>;
}

/**
 * Parses and validates config text against Herald's sections and the sinks'.
 * Every problem is reported, each as `file:line: key.path: message`.
 */
export function parseConfig(text: string, options: ParseOptions): ParseResult {
  const { file = "config", registry: sections } = options;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => `${file}:${lineCounter.linePos(e.pos[0]).line}: ${e.message}`),
    };
  }
  const issues: Issue[] = [];
  const root = rootSchema(sections).parse(doc.toJS(), [], issues);
  const config = root ? buildConfig(root, sections, issues) : undefined;
  if (!config || issues.length > 0) {
    const line = (issue: Issue) => lineOf(doc.contents, issue.path, issue.key, lineCounter);
    const errors = issues
      .map((issue) => ({ at: line(issue), issue }))
      .sort((a, b) => a.at - b.at)
      .map(({ at, issue }) =>
        `${file}:${at}: ${formatPath(issue.path) || "(top level)"}: ${issue.message}`
      );
    return { ok: false, errors };
  }
  return { ok: true, config };
}

function buildConfig(
  root: Root,
  sections: readonly ConfigSection[],
  issues: Issue[],
): GatewayConfig | undefined {
  const headerColumns: string[] = [];
  root.enrich.headers.forEach((header, i) => {
    if (isSensitiveHeader(header)) {
      issues.push({
        path: ["enrich", "headers", i],
        message: `header "${header}" carries credentials and is never copied into events`,
      });
    }
    headerColumns.push(headerColumn(header));
  });
  root.sinks.forEach((name, i) => {
    if (root.sinks.indexOf(name) !== i) {
      issues.push({ path: ["sinks", i], message: `sink "${name}" is listed twice` });
    }
  });

  const reserved = new Set<string>([...BASE_COLUMNS, ...headerColumns]);
  const names = new Map<string, number>();
  const paths = new Map<string, number>();
  const tableColumns = new Map<string, Map<string, { type: string; action: string }>>();
  const actions: ActionConfig[] = root.actions.map((raw, i) => {
    const action = {
      ...raw,
      path: raw.path ?? `/${raw.name}`,
      event_type: raw.event_type ?? raw.name,
    };
    const seenName = names.get(action.name);
    if (seenName !== undefined) {
      issues.push({
        path: ["actions", i, "name"],
        message: `duplicate action name "${action.name}" (also actions[${seenName}])`,
      });
    }
    names.set(action.name, i);
    const seenPath = paths.get(action.path);
    if (seenPath !== undefined) {
      issues.push({
        path: ["actions", i, "path"],
        message: `duplicate path "${action.path}" (also actions[${seenPath}])`,
      });
    }
    if ((RESERVED_PATHS as readonly string[]).includes(action.path)) {
      issues.push({
        path: ["actions", i, "path"],
        message: `path "${action.path}" is reserved by Herald`,
      });
    }
    paths.set(action.path, i);
    const columns = tableColumns.get(action.table) ?? new Map();
    tableColumns.set(action.table, columns);
    for (const field of action.fields) {
      const at: Path = ["actions", i, "fields", field.name];
      if (reserved.has(field.name)) {
        issues.push({
          path: at,
          message: `"${field.name}" is a column Herald sets itself`,
          key: true,
        });
      }
      const other = columns.get(field.name);
      if (other && other.type !== field.type) {
        issues.push({
          path: [...at, "type"],
          message:
            `table "${action.table}" already has "${field.name}" as ${other.type} (action "${other.action}")`,
        });
      }
      columns.set(field.name, { type: field.type, action: action.name });
    }
    return action;
  });

  const sinkOptions: Record<string, unknown> = {};
  for (const section of sections) sinkOptions[section.name] = root[section.name];
  const { server, enrich, sinks, auth, rate_limit, cors } = root;
  const keyNames = auth.write_keys.map((k) => k.name);
  keyNames.forEach((name, i) => {
    if (keyNames.indexOf(name) !== i) {
      issues.push({ path: ["auth", "write_keys", i, "name"], message: `duplicate key "${name}"` });
    }
  });
  return issues.length > 0
    ? undefined
    : { server, enrich, sinks, auth, rate_limit, cors, actions, sinkOptions };
}

/** The line of the node at `path` (of its key when `key` is set), falling back to its parent. */
function lineOf(
  root: Node | null,
  path: Path,
  key: boolean | undefined,
  lineCounter: LineCounter,
): number {
  let node: unknown = root;
  let offset = (root?.range?.[0]) ?? 0;
  for (const [i, part] of path.entries()) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(part));
      if (!pair) break;
      const keyOffset = (pair.key as Node).range?.[0];
      const valueOffset = (pair.value as Node | null)?.range?.[0];
      offset = (key && i === path.length - 1 ? keyOffset : valueOffset ?? keyOffset) ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof part === "number") {
      node = node.items[part];
      offset = (node as Node | undefined)?.range?.[0] ?? offset;
    } else break;
  }
  return lineCounter.linePos(offset).line;
}

/** Reads and parses a config file; errors name the file. */
export async function loadConfig(
  file: string,
  options: Omit<ParseOptions, "file">,
): Promise<ParseResult> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    return { ok: false, errors: [`Cannot read config "${file}": ${(error as Error).message}`] };
  }
  return parseConfig(text, { ...options, file });
}

/** Startup overrides from flags and environment. */
export interface Overrides {
  /** The sinks `--sinks` may name, with their env overrides. */
  registry: readonly ConfigSection[];
  port?: number;
  /** `--sinks`: a comma-separated list of sink names. */
  sinks?: string;
  env: (name: string) => string | undefined;
}

/**
 * Applies `--port`/`PORT`, `--sinks`/`HERALD_SINKS` and each sink's own
 * environment variables. Throws `TypeError` naming the bad value.
 */
export function applyOverrides(config: GatewayConfig, overrides: Overrides): GatewayConfig {
  const { env, registry } = overrides;
  const portText = overrides.port ?? env("PORT");
  const port = portText === undefined || portText === "" ? config.server.port : Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`Invalid port "${portText}": expected an integer from 0 to 65535`);
  }
  const sinkList = overrides.sinks ?? env("HERALD_SINKS");
  const sinks = sinkList ? sinkList.split(",").map((s) => s.trim()).filter(Boolean) : config.sinks;
  if (sinks.length === 0) throw new TypeError("No sinks selected: give at least one");
  for (const name of sinks) {
    if (!registry.some((s) => s.name === name)) {
      const known = registry.map((s) => `"${s.name}"`).join(", ");
      throw new TypeError(`Unknown sink "${name}": expected one of ${known}`);
    }
  }
  const sinkOptions = { ...config.sinkOptions };
  for (const sink of registry) {
    if (sink.fromEnv) sinkOptions[sink.name] = sink.fromEnv(sinkOptions[sink.name], env);
  }
  return { ...config, server: { ...config.server, port }, sinks: [...new Set(sinks)], sinkOptions };
}

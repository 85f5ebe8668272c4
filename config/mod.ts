/**
 * Herald's config: its types, a pure {@linkcode parseConfig} (YAML text in,
 * typed config or a list of `file:line: key.path: problem` errors out), and the
 * thin file and override wrappers used at startup.
 *
 * @module
 */
import { type Document, isMap, isNode, LineCounter, parseDocument } from "yaml";
import { findPair } from "yaml/util";
import { type ActionConfig, checkActions } from "./actions.ts";
import type { ClientTimeConfig, DedupConfig } from "./client.ts";
import { BASE_COLUMNS, CLIENT_KEYS, headerColumn, isSensitiveHeader } from "./columns.ts";
import type { AuthConfig, CorsConfig, RateLimitConfig } from "./guards.ts";
import { type LiveConfig, liveProblem } from "./live.ts";
import { formatPath, type Infer, type Issue, object, type Path, type Schema } from "./schema.ts";
import { type ConfigSection, coreSchemas, type ServerConfig, sinksSchema } from "./sections.ts";
import { checkSegment, SEGMENT_PATHS, segmentColumns, type SegmentConfig } from "./segment.ts";

export { type ActionConfig, RESERVED_PATHS } from "./actions.ts";
export type { AuthConfig, CorsConfig, RateLimitConfig, WriteKeyConfig } from "./guards.ts";
export { type LiveConfig, liveProblem } from "./live.ts";
export type { ConfigSection, ServerConfig } from "./sections.ts";
export type { ClientTimeConfig, DedupConfig } from "./client.ts";
export {
  REJECTED_ACTION,
  REJECTED_TABLE,
  SEGMENT_BATCH_PATHS,
  SEGMENT_CALLS,
  SEGMENT_PATHS,
  type SegmentColumn,
  segmentColumns,
  type SegmentConfig,
  sinkActions,
  storesUnknown,
} from "./segment.ts";

/** The whole validated config. */
export interface GatewayConfig {
  server: ServerConfig;
  enrich: { headers: string[] };
  sinks: string[];
  auth: AuthConfig;
  rate_limit: RateLimitConfig;
  cors: CorsConfig;
  /** The live events page. */
  live: LiveConfig;
  segment: SegmentConfig;
  actions: ActionConfig[];
  dedup: DedupConfig;
  client_time: ClientTimeConfig;
  /** Each registered sink's parsed section, by sink name. */
  sinkOptions: Record<string, unknown>;
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

type Root = Infer<ReturnType<typeof object<typeof coreSchemas>>> & {
  sinks: string[];
  [section: string]: unknown;
};

function rootSchema(sections: readonly ConfigSection[]): Schema<Root> {
  return object({
    ...coreSchemas,
    sinks: sinksSchema(sections),
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
    const line = (issue: Issue) => lineOf(doc, issue, lineCounter);
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

  const { segment } = root;
  const reserved = new Set<string>([
    ...BASE_COLUMNS,
    ...CLIENT_KEYS,
    ...headerColumns,
    ...segmentColumns(segment).map((c) => c.name),
  ]);
  const actions = checkActions(root.actions, reserved, issues);
  checkSegment(segment, new Set(actions.map((a) => a.name)), issues);
  if (segment.enabled) {
    actions.forEach((action, i) => {
      if (SEGMENT_PATHS.includes(action.path)) {
        issues.push({
          path: ["actions", i, "path"],
          message: `path "${action.path}" is served by the Segment routes (segment.enabled)`,
        });
      }
    });
  }

  const sinkOptions: Record<string, unknown> = {};
  for (const section of sections) sinkOptions[section.name] = root[section.name];
  const { server, enrich, sinks, auth, rate_limit, cors, live, dedup, client_time } = root;
  const keyNames = auth.write_keys.map((k) => k.name);
  keyNames.forEach((name, i) => {
    if (keyNames.indexOf(name) !== i) {
      issues.push({ path: ["auth", "write_keys", i, "name"], message: `duplicate key "${name}"` });
    }
  });
  const problem = liveProblem(live, auth.write_keys.length);
  if (problem) issues.push({ path: ["live", "enabled"], message: problem });
  return issues.length > 0 ? undefined : {
    server,
    enrich,
    sinks,
    auth,
    rate_limit,
    cors,
    live,
    segment,
    dedup,
    client_time,
    actions,
    sinkOptions,
  };
}

/**
 * The line of the node at the issue's path (of its key for issues about a key),
 * or of the nearest parent that exists.
 */
function lineOf(doc: Document, issue: Issue, lineCounter: LineCounter): number {
  const { path } = issue;
  for (let depth = path.length; depth >= 0; depth--) {
    const at = path.slice(0, depth);
    const node = nodeAt(doc, at, issue.key === true && depth === path.length);
    if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
  }
  return 1;
}

/** The node at `path`, or with `key` set the key node of the map entry at `path`. */
function nodeAt(doc: Document, path: Path, key: boolean): unknown {
  const parent = key && path.length > 0 ? doc.getIn(path.slice(0, -1), true) : undefined;
  return isMap(parent) ? findPair(parent.items, path.at(-1))?.key : doc.getIn(path, true);
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
 * Applies `--port`/`PORT`, `--sinks`/`HERALD_SINKS`, `HERALD_TRUST_PROXY`
 * and each sink's own environment variables. Throws `TypeError` naming the
 * bad value.
 */
export function applyOverrides(config: GatewayConfig, overrides: Overrides): GatewayConfig {
  const { env, registry } = overrides;
  const portText = overrides.port ?? env("PORT");
  const port = portText === undefined || portText === "" ? config.server.port : Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`Invalid port "${portText}": expected an integer from 0 to 65535`);
  }
  const trustText = env("HERALD_TRUST_PROXY");
  let trustProxy = config.server.trust_proxy;
  if (trustText !== undefined && trustText !== "") {
    if (trustText !== "true" && trustText !== "false") {
      throw new TypeError(`Invalid HERALD_TRUST_PROXY "${trustText}": expected true or false`);
    }
    trustProxy = trustText === "true";
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
  return {
    ...config,
    server: { ...config.server, port, trust_proxy: trustProxy },
    sinks: [...new Set(sinks)],
    sinkOptions,
  };
}

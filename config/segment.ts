/**
 * The `segment:` section: Segment's HTTP tracking API as an optional route
 * set, its paths, and the columns its events carry beside the action's fields.
 *
 * @module
 */
import type { ActionConfig } from "./actions.ts";
import type { FieldSpec, FieldType } from "./fields.ts";
import {
  boolean,
  doc,
  IDENTIFIER,
  type Infer,
  type Issue,
  object,
  optional,
  positiveInt,
  record,
  string,
  withDefault,
} from "./schema.ts";

/** Segment's call types, by the path that takes one call of that type (and its short alias). */
export const SEGMENT_CALLS = {
  track: ["/v1/track", "/v1/t"],
  identify: ["/v1/identify", "/v1/i"],
  page: ["/v1/page", "/v1/p"],
  screen: ["/v1/screen", "/v1/s"],
  group: ["/v1/group", "/v1/g"],
  alias: ["/v1/alias", "/v1/a"],
} as const;

/** The paths that take a batch of calls. */
export const SEGMENT_BATCH_PATHS = ["/v1/batch", "/v1/b"] as const;

/** Every path of the Segment routes: action paths cannot take them while they are on. */
export const SEGMENT_PATHS: readonly string[] = [
  ...Object.values(SEGMENT_CALLS).flat(),
  ...SEGMENT_BATCH_PATHS,
];

/** The types a `segment.context` column may have. */
const CONTEXT_TYPES = ["string", "int", "float", "bool", "timestamp"] as const;

const CONTEXT_PATH = /^[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*$/;

const actionName = string({ ...IDENTIFIER, hint: "the name of an action" });

/** The schema of the `segment:` section. */
export const segmentSchema = doc(
  object({
    enabled: doc(
      withDefault(boolean(), false),
      "serve Segment's tracking API (`/v1/track`, `/v1/batch`, ...); off, its paths are 404",
    ),
    context: doc(
      withDefault(record(string({ values: CONTEXT_TYPES })), {}),
      "`context` values stored as columns: a dotted path to a type " +
        "(`string`, `int`, `float`, `bool`, `timestamp`); `library.name` becomes `context_library_name`",
      { default: "`{}`" },
    ),
    identify: doc(
      optional(actionName),
      "the action `identify` calls become (`traits` are its fields); unset, they are rejected",
      { default: "(rejected)" },
    ),
    page: doc(
      optional(actionName),
      "the action `page` calls become (`properties`, then `name` and `category`, are its fields); " +
        "unset, they are rejected",
      { default: "(rejected)" },
    ),
    screen: doc(
      optional(actionName),
      "the action `screen` calls become, as `page`; unset, they are rejected",
      { default: "(rejected)" },
    ),
    unknown_properties: doc(
      withDefault(string({ values: ["reject", "drop"] as const }), "reject"),
      "a property (or trait) the action has no field for: `reject` the message, " +
        "or `drop` the property",
    ),
    unknown_events: doc(
      withDefault(string({ values: ["reject", "store"] as const }), "reject"),
      "a message no action takes (a `track` event name no action has, an `identify`, `page` " +
        "or `screen` call while its action is unset): `reject` it, or `store` it in the " +
        "`_rejected` table, answered as accepted",
    ),
    max_event_bytes: doc(
      withDefault(positiveInt(), 32768),
      "one message's JSON: larger is rejected (Segment's 32 KB)",
    ),
    max_batch_bytes: doc(
      withDefault(positiveInt(), 512000),
      "one request's body, decompressed: larger gets 413 (Segment's 500 KB); " +
        "replaces `server.max_body_bytes` on these paths",
    ),
  }),
  "Segment's HTTP tracking API, so Segment's SDKs can send to Herald; see [Segment](segment.md).",
);

/** The `segment:` section. */
export type SegmentConfig = Infer<typeof segmentSchema>;

/** The table (and the action and event type of its events) of stored unknown messages. */
export const REJECTED_TABLE = "_rejected";

const rejectedField = (name: string, type: FieldType = "string"): FieldSpec => ({
  name,
  type,
  source: "request",
  required: false,
});

/**
 * The action of Segment messages stored with `unknown_events: store`. It is
 * no route: sinks and the lander know it, the router does not. Its fields
 * are the lander's `_rejected` columns, so both write one table: `raw` (the
 * message as JSON text) and `reason`; the lander's `topic`, `partition`,
 * `offset` and `record_time` are null from the gateway.
 */
export const REJECTED_ACTION: ActionConfig = {
  name: REJECTED_TABLE,
  path: "",
  event_type: REJECTED_TABLE,
  table: REJECTED_TABLE,
  response: "",
  fields: [
    rejectedField("raw"),
    rejectedField("topic"),
    rejectedField("partition", "int"),
    rejectedField("offset", "int"),
    rejectedField("reason"),
    rejectedField("record_time", "timestamp"),
  ],
};

/** Whether unknown Segment messages are stored in `_rejected`. */
export function storesUnknown(segment: SegmentConfig): boolean {
  return segment.enabled && segment.unknown_events === "store";
}

/**
 * The actions whose events the sinks and the lander take: the config's, and
 * {@linkcode REJECTED_ACTION} while unknown Segment messages are stored.
 */
export function sinkActions(
  config: { actions: readonly ActionConfig[]; segment: SegmentConfig },
): readonly ActionConfig[] {
  return storesUnknown(config.segment) ? [...config.actions, REJECTED_ACTION] : config.actions;
}

/** A column Segment events carry beside the action's fields. */
export interface SegmentColumn {
  name: string;
  type: FieldType;
  /** Where the value is in a Segment message, e.g. `["context", "library", "name"]`. */
  path: readonly string[];
}

/** The column of a `context` path: `library.name` -> `context_library_name`. */
function contextColumn(path: string): string {
  const parts = path.split(".").map((p) => p.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase());
  return `context_${parts.join("_")}`;
}

/**
 * The columns of Segment events, in order: `message_id`, `user_id`,
 * `anonymous_id`, then one per `context` entry. None while the routes are off.
 */
export function segmentColumns(segment: SegmentConfig): SegmentColumn[] {
  if (!segment.enabled) return [];
  return [
    { name: "message_id", type: "string", path: ["messageId"] },
    { name: "user_id", type: "string", path: ["userId"] },
    { name: "anonymous_id", type: "string", path: ["anonymousId"] },
    ...Object.entries(segment.context).map(([path, type]): SegmentColumn => ({
      name: contextColumn(path),
      type,
      path: ["context", ...path.split(".")],
    })),
  ];
}

/**
 * Checks what the section's schema cannot: each `context` path's shape and
 * column name, and that `identify`, `page` and `screen` name actions.
 */
export function checkSegment(
  segment: SegmentConfig,
  actionNames: ReadonlySet<string>,
  issues: Issue[],
): void {
  const columns = new Map<string, string>();
  for (const path of Object.keys(segment.context)) {
    const at = ["segment", "context", path];
    if (!CONTEXT_PATH.test(path)) {
      issues.push({ path: at, message: "invalid path: use keys like library.name", key: true });
      continue;
    }
    const name = contextColumn(path);
    const other = columns.get(name);
    if (other !== undefined) {
      issues.push({ path: at, message: `column "${name}" is also "${other}"'s`, key: true });
    }
    columns.set(name, path);
  }
  for (const call of ["identify", "page", "screen"] as const) {
    const name = segment[call];
    if (name !== undefined && !actionNames.has(name)) {
      issues.push({ path: ["segment", call], message: `no action is named "${name}"` });
    }
  }
}

/**
 * The `actions:` section: the schema of one action and its fields, and the
 * checks that look across actions (unique names and paths, Herald's own paths
 * and columns, one type per column of a table).
 *
 * @module
 */
import { type FieldSpec, parseFieldSpec } from "./fields.ts";
import {
  codeList,
  doc,
  IDENTIFIER,
  type Infer,
  type Issue,
  list,
  object,
  optional,
  type Path,
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
  /** The Segment `track` event name this action takes, beside its name and event type. */
  segment_event?: string;
}

/** Paths Herald serves itself. */
export const RESERVED_PATHS = ["/events", "/healthz", "/readyz", "/metrics", "/live"] as const;

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
  name: doc(string(IDENTIFIER), "unique, lowercase `a-z0-9_`; the batch route's `action` value"),
  path: doc(
    optional(string({ pattern: /^\/[A-Za-z0-9_\-./]*$/, hint: "a path like /purchase_a_sword" })),
    `unique route path (${codeList(RESERVED_PATHS, ", ")} are Herald's)`,
    { default: "`/<name>`" },
  ),
  event_type: doc(optional(string(IDENTIFIER)), "the event's `event_type`", {
    default: "`<name>`",
  }),
  table: doc(
    withDefault(string(IDENTIFIER), "events"),
    "the table the event belongs to (for the lake)",
  ),
  response: doc(withDefault(string(), "OK\n"), "the text answered on success"),
  fields: doc(fieldsSchema, "map of field name to field spec (see Field specs below)", {
    default: "none",
  }),
  segment_event: doc(
    optional(string({ minLength: 1 })),
    "the Segment `track` event name this action takes (e.g. `Sword Purchased`), " +
      "besides its `name` and `event_type`; see [Segment](segment.md)",
    { default: "(none)" },
  ),
});

/** The `actions:` section: at least one action. */
export const actionsSchema = doc(
  list(actionSchema, { min: 1 }),
  "`actions` is required and holds at least one action.",
);

/**
 * Fills each action's derived defaults (`path`, `event_type`) and checks what
 * no single action can: duplicates, reserved paths, fields named like Herald's
 * columns (`reserved`), and one type per column across a table's actions.
 */
export function checkActions(
  raw: Infer<typeof actionsSchema>,
  reserved: ReadonlySet<string>,
  issues: Issue[],
): ActionConfig[] {
  const names = new Map<string, number>();
  const paths = new Map<string, number>();
  const segmentEvents = new Map<string, number>();
  const tableColumns = new Map<string, Map<string, { type: string; action: string }>>();
  return raw.map((entry, i) => {
    const { segment_event, ...rest } = entry;
    const action: ActionConfig = {
      ...rest,
      path: entry.path ?? `/${entry.name}`,
      event_type: entry.event_type ?? entry.name,
      ...(segment_event === undefined ? {} : { segment_event }),
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
    if (
      (RESERVED_PATHS as readonly string[]).includes(action.path) ||
      action.path.startsWith("/live/")
    ) {
      issues.push({
        path: ["actions", i, "path"],
        message: `path "${action.path}" is reserved by Herald`,
      });
    }
    paths.set(action.path, i);
    if (action.segment_event !== undefined) {
      const seen = segmentEvents.get(action.segment_event);
      if (seen !== undefined) {
        issues.push({
          path: ["actions", i, "segment_event"],
          message: `duplicate segment_event "${action.segment_event}" (also actions[${seen}])`,
        });
      }
      segmentEvents.set(action.segment_event, i);
    }
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
}

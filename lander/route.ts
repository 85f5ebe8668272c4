/**
 * Routes one Kafka record to its table: the checks a record passes to land
 * (JSON, a configured action, Herald's own columns, typed fields), and the
 * `_rejected` table for those that fail.
 *
 * @module
 */
import { type ActionConfig, REJECTED_TABLE } from "../config/mod.ts";
import { coerceField } from "../config/fields.ts";
import type { Event } from "../sinks/contract.ts";
import type { Column } from "../sinks/parquet/mod.ts";

/**
 * The table of records the lander could not land, and of the Segment
 * messages the gateway stored (`segment.unknown_events: store`).
 */
export { REJECTED_TABLE };

/**
 * The columns of the `_rejected` table while the config stores no Segment
 * messages; with them, the table has Herald's columns too (`lakeTables`).
 */
export const REJECTED_COLUMNS: readonly Column[] = [
  { name: "raw", type: "string" },
  { name: "topic", type: "string" },
  { name: "partition", type: "int" },
  { name: "offset", type: "int" },
  { name: "reason", type: "string" },
  { name: "record_time", type: "timestamp" },
];

/** A record's place in the lake, or why it has none. */
export type Routed =
  | { table: string; event: Event }
  | { rejected: string };

// One decoder each, not one per record: routing is the lander's hot loop.
const UTF8_STRICT = new TextDecoder("utf-8", { fatal: true });
/** For `_rejected.raw`: bad bytes become U+FFFD so the row still lands. */
export const UTF8_LENIENT = new TextDecoder();

/**
 * Checks one record value against the config: JSON object, a configured
 * action whose event type matches, Herald's own columns and the action's
 * fields with their types.
 */
export function routeRecord(
  value: Uint8Array | null,
  actions: ReadonlyMap<string, ActionConfig>,
): Routed {
  if (value === null) return { rejected: "record has no value" };
  let text: string;
  try {
    text = UTF8_STRICT.decode(value);
  } catch {
    return { rejected: "value is not UTF-8" };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { rejected: `value is not JSON: ${(error as Error).message}` };
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return { rejected: "value is not a JSON object" };
  }
  const event = parsed as Record<string, unknown>;
  if (typeof event.action !== "string") return { rejected: 'field "action" must be a string' };
  const action = actions.get(event.action);
  if (!action) return { rejected: `unknown action "${event.action}"` };
  if (event.event_type !== action.event_type) {
    return {
      rejected: `field "event_type" must be "${action.event_type}" for action "${action.name}"`,
    };
  }
  for (const name of ["event_id", "received_at"]) {
    if (typeof event[name] !== "string") return { rejected: `field "${name}" must be a string` };
  }
  if (!Number.isFinite(Date.parse(event.received_at as string))) {
    return { rejected: 'field "received_at" must be an ISO 8601 timestamp' };
  }
  for (const name of ["client_time", "event_time"]) {
    const at = event[name];
    if (at === undefined || at === null) continue;
    if (typeof at !== "string" || !Number.isFinite(Date.parse(at))) {
      return { rejected: `field "${name}" must be an ISO 8601 timestamp or null` };
    }
  }
  for (const spec of action.fields) {
    const raw = event[spec.name];
    if (raw === undefined || raw === null) continue;
    const result = coerceField(spec, raw, false);
    if ("problem" in result) return { rejected: `field "${spec.name}" ${result.problem}` };
    event[spec.name] = result.value;
  }
  return { table: action.table, event: event as Event };
}

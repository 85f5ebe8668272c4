/**
 * Segment messages as Herald events: which action a call becomes, its fields
 * (`properties` or `traits`), its columns (`userId`, `anonymousId`, the
 * configured `context` values), and its id, time and send time for ingest.
 *
 * @module
 */
import type { ActionConfig, GatewayConfig, SegmentColumn } from "../config/mod.ts";
import { REJECTED_ACTION, segmentColumns, storesUnknown } from "../config/mod.ts";
import { coerceField, type FieldSpec, type FieldValue } from "../config/fields.ts";
import type { FieldProblem } from "./enrich.ts";
import { type IngestFieldNames, type IngestItem, uuidFromText } from "./ingest.ts";
import { isJsonObject } from "./_shared.ts";

/** The call types Herald serves, and those it names when it refuses one. */
const SERVED = ["track", "identify", "page", "screen"] as const;
const NOT_SERVED = ["group", "alias"];

/** What ingest calls a message's id, time and send time, as Segment names them. */
export const MESSAGE_KEYS: Required<IngestFieldNames> = {
  eventId: "messageId",
  clientTime: "timestamp",
  sentAt: "sentAt",
};

/** A message turned into an ingest item, or the problems that stop it. */
export type Translated =
  | { item: IngestItem; input: string }
  | { error: string; fields: FieldProblem[] };

/** What a batch says for all of its messages. */
export interface BatchDefaults {
  sentAt?: unknown;
  context?: unknown;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The event id of a `messageId`: the id itself when it is a UUID (as the
 * mobile SDKs send), else a UUID made from it ({@linkcode uuidFromText}), so
 * the same `messageId` is always the same `event_id` and a retry is a repeat.
 */
export function eventIdOf(messageId: string): string {
  return UUID.test(messageId) ? messageId : uuidFromText(messageId);
}

/** `track` event names to actions: a `segment_event`, else a name, else an event type. */
function trackActions(actions: readonly ActionConfig[]): Map<string, ActionConfig | string> {
  const byName = new Map<string, ActionConfig | string>();
  const byType = new Map<string, ActionConfig[]>();
  for (const action of actions) {
    byType.set(action.event_type, [...byType.get(action.event_type) ?? [], action]);
  }
  for (const [type, list] of byType) {
    byName.set(
      type,
      list.length === 1
        ? list[0]!
        : `is the event_type of several actions (${
          list.map((a) => a.name).join(", ")
        }): set segment_event on one`,
    );
  }
  for (const action of actions) byName.set(action.name, action);
  for (const action of actions) {
    if (action.segment_event !== undefined) byName.set(action.segment_event, action);
  }
  return byName;
}

function valueAt(root: unknown, path: readonly string[]): unknown {
  let value = root;
  for (const key of path) {
    if (!isJsonObject(value)) return undefined;
    value = value[key];
  }
  return value;
}

/** Turns Segment messages into ingest items for the config's actions. */
export class SegmentMessages {
  readonly #tracks: Map<string, ActionConfig | string>;
  readonly #calls: Record<"identify" | "page" | "screen", ActionConfig | undefined>;
  readonly #columns: { column: SegmentColumn; spec: FieldSpec }[];
  readonly #dropUnknown: boolean;
  readonly #storeUnknown: boolean;

  constructor(config: GatewayConfig) {
    const { segment } = config;
    const named = (name: string | undefined) => config.actions.find((a) => a.name === name);
    this.#tracks = trackActions(config.actions);
    this.#calls = {
      identify: named(segment.identify),
      page: named(segment.page),
      screen: named(segment.screen),
    };
    this.#columns = segmentColumns(segment).map((column) => ({
      column,
      spec: { name: column.name, type: column.type, source: "request", required: false },
    }));
    this.#dropUnknown = segment.unknown_properties === "drop";
    this.#storeUnknown = storesUnknown(segment);
  }

  /**
   * The ingest item of one message of `type` (from the path, or the
   * message's own `type` in a batch), or the problems, each naming the
   * message's key at fault (`properties.strength`, `userId`, `event`).
   * With `unknown_events: store`, a message no action takes and nothing else
   * is wrong with becomes an item of {@linkcode REJECTED_ACTION}.
   */
  translate(message: Record<string, unknown>, type: unknown, batch: BatchDefaults): Translated {
    const problems: FieldProblem[] = [];
    const found = this.#actionOf(message, type, problems);
    const action = typeof found === "object" ? found : undefined;
    const userId = message.userId;
    const anonymousId = message.anonymousId;
    if (!nonEmpty(userId) && !nonEmpty(anonymousId)) {
      problems.push({ field: "userId", problem: "or anonymousId is required" });
    }
    for (const [key, value] of [["userId", userId], ["anonymousId", anonymousId]] as const) {
      if (value !== undefined && value !== null && typeof value !== "string") {
        problems.push({ field: key, problem: "must be a string" });
      }
    }
    const messageId = message.messageId;
    if (messageId !== undefined && !nonEmpty(messageId)) {
      problems.push({ field: "messageId", problem: "must be a non-empty string" });
    }
    const columns: Record<string, FieldValue | null> = {};
    for (const { column, spec } of this.#columns) {
      let raw = valueAt(message, column.path);
      if (raw === undefined && column.path[0] === "context") {
        raw = valueAt(batch.context, column.path.slice(1));
      }
      if (raw === undefined || raw === null) {
        columns[column.name] = null;
        continue;
      }
      const result = coerceField(spec, raw, false);
      if ("problem" in result) {
        problems.push({ field: column.path.join("."), problem: result.problem });
      } else columns[column.name] = result.value;
    }
    if (typeof found === "string" && this.#storeUnknown && problems.length === 1) {
      // Stored in `_rejected`: the message as sent, and why.
      const fields = { raw: JSON.stringify(message), reason: found };
      return { input: "message", item: itemOf(REJECTED_ACTION, fields, message, columns, batch) };
    }
    const fields = action ? this.#fieldsOf(message, type as string, action, problems) : undefined;
    if (!action || !fields || problems.length > 0) {
      return { error: `Invalid ${describeType(type)} message`, fields: problems };
    }
    return {
      input: type === "identify" ? "traits" : "properties",
      item: itemOf(action, fields, message, columns, batch),
    };
  }

  /**
   * The message's action; else the problem is added, and a message no
   * action takes (an unknown event name, an unmapped call) returns why.
   */
  #actionOf(
    message: Record<string, unknown>,
    type: unknown,
    problems: FieldProblem[],
  ): ActionConfig | string | undefined {
    if (type === "track") {
      const event = message.event;
      if (!nonEmpty(event)) {
        problems.push({ field: "event", problem: "is required: a non-empty string" });
        return undefined;
      }
      const found = this.#tracks.get(event);
      if (typeof found === "object") return found;
      problems.push({
        field: "event",
        problem: `${JSON.stringify(event)} ${
          found ?? "is not an action's name, event_type or segment_event"
        }`,
      });
      return found === undefined ? `unknown event ${JSON.stringify(event)}` : undefined;
    }
    if (type === "identify" || type === "page" || type === "screen") {
      const action = this.#calls[type];
      if (!action) {
        problems.push({
          field: "type",
          problem: `"${type}" calls are not mapped to an action: set segment.${type}`,
        });
        return `"${type}" calls are not mapped to an action`;
      }
      return action;
    }
    const problem = typeof type === "string" && NOT_SERVED.includes(type)
      ? `"${type}" calls are not served`
      : `must be one of ${SERVED.map((t) => `"${t}"`).join(", ")}`;
    problems.push({ field: "type", problem });
    return undefined;
  }

  /** The action's input: `traits` for identify, else `properties` (with a page's `name`, `category`). */
  #fieldsOf(
    message: Record<string, unknown>,
    type: string,
    action: ActionConfig,
    problems: FieldProblem[],
  ): Record<string, unknown> | undefined {
    const key = type === "identify" ? "traits" : "properties";
    const raw = message[key] ?? {};
    if (!isJsonObject(raw)) {
      problems.push({ field: key, problem: "must be an object" });
      return undefined;
    }
    const known = (name: string) =>
      action.fields.some((f) => f.name === name && f.source === "request");
    let fields: Record<string, unknown> = raw;
    if (type === "page" || type === "screen") {
      fields = { ...raw };
      for (const name of ["name", "category"]) {
        if (fields[name] === undefined && message[name] !== undefined && known(name)) {
          fields[name] = message[name];
        }
      }
    }
    if (this.#dropUnknown) {
      fields = Object.fromEntries(Object.entries(fields).filter(([name]) => known(name)));
    }
    return fields;
  }
}

function nonEmpty(value: unknown): value is string {
  return typeof value === "string" && value !== "";
}

function describeType(type: unknown): string {
  return typeof type === "string" && type !== "" ? type : "Segment";
}

/** The ingest item of `message` as an event of `action` with `fields` and `columns`. */
function itemOf(
  action: ActionConfig,
  fields: Record<string, unknown>,
  message: Record<string, unknown>,
  columns: Record<string, FieldValue | null>,
  batch: BatchDefaults,
): IngestItem {
  const messageId = message.messageId;
  return {
    action,
    fields,
    fromText: false,
    eventId: typeof messageId === "string" ? eventIdOf(messageId) : undefined,
    clientTime: message.timestamp,
    sentAt: message.sentAt ?? batch.sentAt,
    fieldNames: MESSAGE_KEYS,
    columns,
  };
}

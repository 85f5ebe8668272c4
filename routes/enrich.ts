/**
 * Turning a request into an event: resolving an action's fields from the
 * request, and enriching them with ids, time and allow-listed headers. Both are
 * pure: time, ids and randomness are injected.
 *
 * @module
 */
import { headerColumn, isSensitiveHeader } from "../config/columns.ts";
import type { ActionConfig } from "../config/mod.ts";
import { coerceField, type FieldValue, generateValue } from "../config/fields.ts";
import type { Event } from "../sinks/contract.ts";
import type { ClientTimes } from "./client_time.ts";

/** Clock, id source and randomness, injected so tests get exact values. */
export interface EnrichDeps {
  now(): number;
  eventId(nowMs: number): string;
  random(): number;
}

/** One bad input field, as the 400 body lists it. */
export interface FieldProblem {
  field: string;
  problem: string;
}

/** What a request says about itself, beyond its fields. */
export interface RequestMeta {
  headers: Headers;
  clientIp: string | null;
  requestId: string;
  /** The write key's name, when write keys are on. */
  source?: string;
}

/**
 * Resolves every field of `action` from `input` (query parameters when
 * `fromText`, a JSON object otherwise), defaults, constants and generators.
 * Unknown or server-set keys in `input` are problems too.
 */
export function readFields(
  action: ActionConfig,
  input: Readonly<Record<string, unknown>>,
  fromText: boolean,
  random: () => number,
): { values: Record<string, FieldValue | null> } | { problems: FieldProblem[] } {
  const values: Record<string, FieldValue | null> = {};
  const problems: FieldProblem[] = [];
  for (const spec of action.fields) {
    const raw = Object.hasOwn(input, spec.name) ? input[spec.name] : undefined;
    if (spec.source !== "request") {
      if (raw !== undefined) problems.push({ field: spec.name, problem: "is set by the server" });
      values[spec.name] = spec.source === "constant" ? spec.value! : generateValue(spec, random);
    } else if (raw === undefined || raw === null) {
      if (spec.required) problems.push({ field: spec.name, problem: "is required" });
      values[spec.name] = spec.default ?? null;
    } else {
      const result = coerceField(spec, raw, fromText);
      if ("problem" in result) problems.push({ field: spec.name, problem: result.problem });
      else values[spec.name] = result.value;
    }
  }
  for (const key of Object.keys(input)) {
    if (!action.fields.some((f) => f.name === key)) {
      problems.push({ field: key, problem: "is not a field of this action" });
    }
  }
  return problems.length > 0 ? { problems } : { values };
}

// The allow-list's columns, worked out once per config's list rather than per event.
const columnsOf = new WeakMap<readonly string[], [string, string][]>();

function headerColumns(headers: readonly string[]): [string, string][] {
  let pairs = columnsOf.get(headers);
  if (!pairs) {
    pairs = headers.filter((h) => !isSensitiveHeader(h)).map((h) => [h, headerColumn(h)]);
    columnsOf.set(headers, pairs);
  }
  return pairs;
}

// Events of the same millisecond share one ISO string: under load dozens do.
let isoMs = NaN;
let isoText = "";

/** `new Date(ms).toISOString()`, from the last call's text when `ms` is the same. */
export function isoTime(ms: number): string {
  if (ms !== isoMs) {
    isoText = new Date(ms).toISOString();
    isoMs = ms;
  }
  return isoText;
}

/** What the client said about one event: its id and its clock, already checked. */
export interface ClientStamp {
  /** The client's event id (a lowercase UUID); Herald makes one when absent. */
  eventId?: string;
  times?: ClientTimes;
}

/**
 * Builds the flat event: `event_id`, `event_type`, `action`, `received_at`,
 * `client_time` and `event_time` when the client gave a time, the
 * allow-listed headers, `client_ip`, `request_id`, then the action's fields.
 * `event_time` is `client_time` moved by `received_at - sent_at` when
 * `sent_at` is known (the device's clock skew), else `client_time`.
 * Credential headers are skipped even if an allow-list names them.
 */
export function enrich(
  action: ActionConfig,
  fields: Readonly<Record<string, FieldValue | null>>,
  meta: RequestMeta,
  options: { headers: readonly string[]; deps: EnrichDeps; client?: ClientStamp },
): Event {
  const now = options.deps.now();
  const { client } = options;
  const event: Event = {
    event_id: client?.eventId ?? options.deps.eventId(now),
    event_type: action.event_type,
    action: action.name,
    received_at: isoTime(now),
  };
  const clientMs = client?.times?.clientMs;
  if (clientMs !== undefined) {
    const sentMs = client!.times!.sentMs;
    event.client_time = clientMs === null ? null : new Date(clientMs).toISOString();
    event.event_time = clientMs === null
      ? null
      : new Date(sentMs === undefined ? clientMs : clientMs + (now - sentMs)).toISOString();
  }
  for (const [header, column] of headerColumns(options.headers)) {
    event[column] = meta.headers.get(header);
  }
  event.client_ip = meta.clientIp;
  event.request_id = meta.requestId;
  if (meta.source !== undefined) event.source = meta.source;
  return Object.assign(event, fields);
}

/**
 * The client's address: the peer, or with `trustProxy` the last address in
 * X-Forwarded-For, which is the one our own proxy saw (earlier entries are
 * whatever the client claimed).
 */
export function clientIp(
  headers: Headers,
  peer: string | null,
  trustProxy: boolean,
): string | null {
  if (!trustProxy) return peer;
  const last = headers.get("x-forwarded-for")?.split(",").at(-1)?.trim();
  return last || peer;
}

/**
 * Client ids and clocks: a client `event_id` (a UUID), and `client_time` /
 * `sent_at` parsed and checked for plausibility. Pure: the time to check
 * against is passed in.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { ClientTimeConfig } from "../config/mod.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NIL = /^0{8}-0{4}-0{4}-0{4}-0{12}$|^f{8}-f{4}-f{4}-f{4}-f{12}$/i;

/** A client event id in lowercase, or the problem with it (phrased to follow the field name). */
export function readEventId(raw: unknown): { id: string } | { problem: string } {
  if (typeof raw !== "string" || !UUID.test(raw)) {
    return { problem: "must be a UUID (8-4-4-4-12 hex digits)" };
  }
  // Every event of an SDK that fails to make ids would carry these.
  if (NIL.test(raw)) return { problem: "must not be the nil or max UUID" };
  return { id: raw.toLowerCase() };
}

/**
 * A UUID made from any text, always the same for the same text (RFC 9562
 * version 8: the first 122 bits of its SHA-256), for clients whose event ids
 * are not UUIDs (Segment's `messageId` is `node-next-<ms>-<uuid>` in its Node
 * SDK): their repeats get the same `event_id`, so they are deduped.
 */
export function uuidFromText(text: string): string {
  const bytes = createHash("sha256").update(text).digest().subarray(0, 16);
  bytes[6] = 0x80 | (bytes[6]! & 0x0f);
  bytes[8] = 0x80 | (bytes[8]! & 0x3f);
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
    hex.slice(20)
  }`;
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;
const DIGITS = /^-?\d{1,16}$/;

/** The earliest plausible client time: 2000-01-01T00:00:00Z. */
export const EARLIEST_MS = Date.UTC(2000, 0, 1);

/**
 * Epoch milliseconds of a client time: an ISO 8601 date-time with a time
 * zone, or an integer of epoch milliseconds (as text when `fromText`).
 */
export function parseClientTime(raw: unknown, fromText: boolean): number | undefined {
  let ms = NaN;
  if (typeof raw === "number" && Number.isSafeInteger(raw)) ms = raw;
  else if (typeof raw === "string" && ISO_TIME.test(raw)) ms = Date.parse(raw.toUpperCase());
  else if (fromText && typeof raw === "string" && DIGITS.test(raw)) ms = Number(raw);
  return Number.isNaN(new Date(ms).getTime()) ? undefined : ms;
}

/**
 * The `Sent-At` header as a `sent_at` value, or undefined when absent: epoch
 * milliseconds (digits) as a number, as a JSON body would give them, else
 * the text, for {@linkcode readClientTimes} to parse.
 */
export function sentAtHeader(headers: Headers): string | number | undefined {
  const text = headers.get("sent-at");
  if (text === null) return undefined;
  return /^\d+$/.test(text) ? Number(text) : text;
}

const UNPARSABLE = "must be an ISO 8601 date-time with a time zone, or epoch milliseconds";

/** A request's client times, as the event stores them: `null` for a dropped one. */
export interface ClientTimes {
  /** Epoch ms of `client_time`; undefined when not given. */
  clientMs?: number | null;
  /** Epoch ms of `sent_at`; undefined when not given or dropped. */
  sentMs?: number;
}

/** One time field that is unparsable or implausible. */
export interface TimeProblem {
  /** Which value: `client_time` or `sent_at`. */
  key: "client_time" | "sent_at";
  problem: string;
}

/**
 * Reads `client_time` and `sent_at` (either may be undefined) against the
 * receive time `now`. Each must parse. The event's time, `client_time`
 * corrected by `now - sent_at` when `sent_at` is given, must be on or after
 * 2000-01-01 and at most `max_future_ms` after `now`: a device clock that is
 * wrong makes both values wrong by the same amount, so with `sent_at` only
 * the corrected time is judged. In `null` mode a bad value is dropped (a
 * `client_time` stored as null) and listed all the same.
 */
export function readClientTimes(
  raw: { clientTime?: unknown; sentAt?: unknown; fromText: boolean },
  now: number,
  config: ClientTimeConfig,
): { times: ClientTimes; problems: TimeProblem[] } {
  const problems: TimeProblem[] = [];
  const times: ClientTimes = {};
  if (raw.sentAt !== undefined) {
    const sent = parseClientTime(raw.sentAt, raw.fromText);
    if (sent === undefined) problems.push({ key: "sent_at", problem: UNPARSABLE });
    else times.sentMs = sent;
  }
  if (raw.clientTime === undefined) return { times, problems };
  const client = parseClientTime(raw.clientTime, raw.fromText);
  if (client === undefined) {
    problems.push({ key: "client_time", problem: UNPARSABLE });
    times.clientMs = null;
    return { times, problems };
  }
  const corrected = times.sentMs === undefined ? client : client + (now - times.sentMs);
  const by = times.sentMs === undefined ? "" : " once corrected by sent_at";
  if (corrected < EARLIEST_MS) {
    problems.push({ key: "client_time", problem: `is before 2000-01-01${by}` });
  } else if (corrected - now > config.max_future_ms) {
    problems.push({
      key: "client_time",
      problem: `is more than ${config.max_future_ms} ms in the future${by}`,
    });
  }
  times.clientMs = problems.some((p) => p.key === "client_time") ? null : client;
  return { times, problems };
}

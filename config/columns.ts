/**
 * The columns Herald sets on every event, and which headers may become
 * columns. Kept apart from the config parser so sinks can import it without
 * importing the sink registry.
 *
 * @module
 */

/** Headers whose values are credentials: never copied into events or logs. */
const SENSITIVE_HEADER =
  /^(authorization|proxy-authorization|cookie|set-cookie)$|api[-_]?key|write[-_]?key|token|secret|password|signature/i;

/** Whether a header carries credentials and must never reach an event or a log line. */
export function isSensitiveHeader(name: string): boolean {
  return SENSITIVE_HEADER.test(name);
}

/** The event column an allow-listed header becomes: `user-agent` -> `user_agent`. */
export function headerColumn(name: string): string {
  return name.toLowerCase().replaceAll("-", "_");
}

/** Columns Herald sets on every event; fields cannot reuse these names. */
export const BASE_COLUMNS = [
  "event_id",
  "event_type",
  "action",
  "received_at",
  "client_time",
  "event_time",
  "client_ip",
  "request_id",
  "source",
] as const;

/** Keys of a request (body, batch item, query string) that Herald reads itself, never fields. */
export const CLIENT_KEYS = ["event_id", "client_time", "sent_at"] as const;

/** Herald's columns holding times: typed timestamp columns in the lake. */
export const TIME_COLUMNS: ReadonlySet<string> = new Set([
  "received_at",
  "client_time",
  "event_time",
]);

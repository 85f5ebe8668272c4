/**
 * Where the hub taps the request path: the fan-out publishes events once
 * every sink has them, and a rejection is read from the answer a client got.
 * Both exist only while the live page is enabled.
 *
 * @module
 */
import type { FanOut } from "../sinks/fan_out.ts";
import { type LiveHub, Rejection } from "./hub.ts";

/**
 * Makes `fanOut` publish the events of every successful write to `hub`
 * (none when `hub` is undefined). The hook runs as the write resolves, so
 * the page shows only what every sink acknowledged, and costs no promise.
 */
export function tapFanOut(fanOut: FanOut, hub: LiveHub | undefined): void {
  fanOut.onAccepted = hub && ((events) => hub.publish(events));
}

/**
 * Shows `response` (a 4xx or 5xx, or a 207 batch that refused some items)
 * on the page, with its JSON error body read from a clone. Only what the
 * client got is kept: method, path, status, body and request id, never the
 * request's headers or query string. Sampled like events: the body of a
 * rejection the hub does not keep is never read.
 */
export function tapRejection(
  hub: LiveHub,
  request: Request,
  response: Response,
  requestId: string,
  nowMs: number,
): void {
  if (!hub.keepRejection()) return;
  const time = new Date(nowMs).toISOString();
  const path = new URL(request.url).pathname;
  const keep = (body: unknown) =>
    hub.reject(new Rejection(time, request.method, path, response.status, requestId, body));
  const type = response.headers.get("content-type") ?? "";
  if (response.body === null || !type.includes("json")) return keep(null);
  response.clone().json().then(keep, () => keep(null));
}

/**
 * Where the hub taps the request path: a fan-out that publishes events once
 * every sink has them, and a rejection read from the answer a client got.
 * Both exist only while the live page is enabled.
 *
 * @module
 */
import type { FanOut } from "../sinks/fan_out.ts";
import { type LiveHub, Rejection } from "./hub.ts";

/** `fanOut`, whose writes also publish their events to `hub` once acknowledged. */
export function publishing(fanOut: FanOut, hub: LiveHub): FanOut {
  const tapped = Object.create(fanOut) as FanOut;
  tapped.write = (events) => fanOut.write(events).then(() => hub.publish(events));
  return tapped;
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

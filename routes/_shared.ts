/**
 * What the route builders share: their context, the metrics they count, the
 * error body. Request bodies are read in `body.ts`, events are taken in
 * `ingest.ts`.
 *
 * @module
 */
import type { Logger } from "pino";
import type { GatewayConfig } from "../config/mod.ts";
import type { FanOut } from "../sinks/fan_out.ts";
import type { Sink } from "../sinks/contract.ts";
import type { DedupStats, DedupWindow } from "./dedup.ts";
import type { EnrichDeps, FieldProblem } from "./enrich.ts";

export { type BodyLimits, bodyLimits, nestsDeeper, readJsonBody, readRawBody } from "./body.ts";
export type { HeraldEnv } from "./env.ts";

/** Everything route builders need. */
export interface RouteContext {
  config: GatewayConfig;
  fanOut: FanOut;
  logger: Logger;
  deps: EnrichDeps;
  metrics: RouteMetrics;
  /** Client event ids acknowledged recently and being written. */
  dedup: DedupWindow;
}

/** What the routes count, and what /metrics serves; ops' `Metrics` implements it. */
export interface RouteMetrics {
  /** Requests answered, by action label and status. */
  readonly requests: { add(action: string, status: number): void };
  /** Items per batch request. */
  readonly batchEvents: { observe(items: number): void };
  /** Client times found unparsable or implausible, by key and outcome (`rejected`, `nulled`). */
  readonly clientTimes: { add(key: string, outcome: string): void };
  /** Segment messages no action takes, stored in `_rejected` (`segment.unknown_events: store`). */
  readonly segmentStored: { inc(count: number): void };
  /** Tells /metrics which sinks to read queues and health from. */
  watchSinks(sinks: readonly Sink[]): void;
  /** Tells /metrics where to read the dedup window's counters (at `now()`). */
  watchDedup(stats: (() => DedupStats) | null): void;
  /** The exposition text and its content type. */
  scrape(): Promise<{ body: string; contentType: string }>;
}

/** The `action` label of requests that are not a configured action. */
export const ROUTE_LABELS = {
  batch: "_batch",
  ops: "_ops",
  segment: "_segment",
  unmatched: "_unmatched",
} as const;

/** The JSON error body every non-2xx answer carries. */
export function errorBody(error: string, message: string, fields?: FieldProblem[]) {
  return fields ? { error, message, fields } : { error, message };
}

/** 405 naming the allowed methods, with the `Allow` header. */
export function methodNotAllowed(method: string, path: string, allow: readonly string[]): Response {
  const body = errorBody(
    "method_not_allowed",
    `Method ${method} is not allowed on "${path}": use ${allow.join(" or ")}`,
  );
  return Response.json(body, { status: 405, headers: { allow: allow.join(", ") } });
}

const utf8 = new TextEncoder();

/** Bytes of `text` in UTF-8. */
export function utf8Length(text: string): number {
  // ASCII is one byte per unit; only other text needs encoding to count.
  return /[^\p{ASCII}]/u.test(text) ? utf8.encode(text).length : text.length;
}

/** Whether `value` is a plain JSON object. */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

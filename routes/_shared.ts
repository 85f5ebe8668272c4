/**
 * What the route builders share: their context, the metrics they count, the
 * error body, and building an event from a request's fields. Request bodies
 * are read in `body.ts`.
 *
 * @module
 */
import type { Context } from "hono";
import type { Logger } from "pino";
import type { ActionConfig, GatewayConfig } from "../config/mod.ts";
import type { FanOut } from "../sinks/fan_out.ts";
import type { Event, Sink } from "../sinks/contract.ts";
import { clientIp, enrich, type EnrichDeps, type FieldProblem, readFields } from "./enrich.ts";
import type { HeraldEnv } from "./env.ts";

export { type BodyLimits, bodyLimits, nestsDeeper, readJsonBody, readRawBody } from "./body.ts";
export type { HeraldEnv } from "./env.ts";

/** Everything route builders need. */
export interface RouteContext {
  config: GatewayConfig;
  fanOut: FanOut;
  logger: Logger;
  deps: EnrichDeps;
  metrics: RouteMetrics;
}

/** What the routes count, and what /metrics serves; ops' `Metrics` implements it. */
export interface RouteMetrics {
  /** Requests answered, by action label and status. */
  readonly requests: { add(action: string, status: number): void };
  /** Items per batch request. */
  readonly batchEvents: { observe(items: number): void };
  /** Tells /metrics which sinks to read queues and health from. */
  watchSinks(sinks: readonly Sink[]): void;
  /** The exposition text and its content type. */
  scrape(): Promise<{ body: string; contentType: string }>;
}

/** The `action` label of requests that are not a configured action. */
export const ROUTE_LABELS = {
  batch: "_batch",
  ops: "_ops",
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

/** Validates `input` for `action` and builds its event, or returns the problems. */
export function buildEvent(
  c: Context<HeraldEnv>,
  ctx: RouteContext,
  action: ActionConfig,
  input: Record<string, unknown>,
  fromText: boolean,
): { event: Event } | { problems: FieldProblem[] } {
  const result = readFields(action, input, fromText, ctx.deps.random);
  if ("problems" in result) return result;
  const meta = {
    headers: c.req.raw.headers,
    clientIp: clientIp(
      c.req.raw.headers,
      c.env?.remoteAddr?.hostname ?? null,
      ctx.config.server.trust_proxy,
    ),
    requestId: c.get("requestId"),
    source: c.get("source"),
  };
  return {
    event: enrich(action, result.values, meta, {
      headers: ctx.config.enrich.headers,
      deps: ctx.deps,
    }),
  };
}

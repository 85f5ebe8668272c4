/**
 * One route per configured game action. GET takes fields from the query
 * string, POST from a JSON object body; the answer is the action's response
 * text, sent once every sink has the event. A client event id comes as
 * `event_id` (query or body) or the `Idempotency-Key` header, client times as
 * `client_time` and `sent_at` (query or body) or the `Sent-At` header.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { getQueryParams } from "hono/utils/url";
import {
  bodyLimits,
  errorBody,
  type HeraldEnv,
  isJsonObject,
  methodNotAllowed,
  readJsonBody,
  type RouteContext,
} from "./_shared.ts";
import type { FieldProblem } from "./enrich.ts";
import { sentAtHeader } from "./client_time.ts";
import { ingest, type IngestItem } from "./ingest.ts";

function tooLarge(c: Context<HeraldEnv>, what: string, max: number): Response {
  return c.json(errorBody("event_too_large", `${what} exceeds ${max} bytes (one event)`), 413);
}

/** The query string's parameters, each with every value given. */
function queryParams(url: string, query: number): Record<string, string[]> {
  return query < 0 ? {} : getQueryParams(url) as Record<string, string[]>;
}

/**
 * Moves Herald's own keys (`event_id`, `client_time`, `sent_at`) from the
 * input to the item, and the `Idempotency-Key` and `Sent-At` headers, which
 * must agree with the keys when both are given.
 */
function takeClientKeys(c: Context<HeraldEnv>, item: IngestItem): void {
  const input = item.fields;
  if (Object.hasOwn(input, "event_id")) {
    item.eventId = input.event_id;
    delete input.event_id;
  }
  if (Object.hasOwn(input, "client_time")) {
    item.clientTime = input.client_time;
    delete input.client_time;
  }
  if (Object.hasOwn(input, "sent_at")) {
    item.sentAt = input.sent_at;
    delete input.sent_at;
  }
  const headers = c.req.raw.headers;
  const key = headers.get("idempotency-key");
  if (key !== null) {
    if (item.eventId !== undefined && item.eventId !== key) {
      (item.problems ??= []).push({ field: "Idempotency-Key", problem: "differs from event_id" });
    }
    item.eventId = key;
    item.fieldNames = { eventId: "Idempotency-Key" };
  }
  const sent = sentAtHeader(headers);
  if (sent !== undefined) {
    if (item.sentAt !== undefined) {
      (item.problems ??= []).push({ field: "Sent-At", problem: "is also given as sent_at" });
    }
    item.sentAt = sent;
    item.fieldNames = { ...item.fieldNames, sentAt: "Sent-At" };
  }
}

/** Builds the action routes; other methods on an action's path get 405. */
export function actionRoutes(ctx: RouteContext): Hono<HeraldEnv> {
  const app = new Hono<HeraldEnv>();
  for (const action of ctx.config.actions) {
    app.on(["GET", "POST"], action.path, async (c) => {
      const method = c.req.method;
      if (method === "HEAD") return methodNotAllowed(method, action.path, ["GET", "POST"]);
      let input: Record<string, unknown> = {};
      let problems: FieldProblem[] | undefined;
      const maxEventBytes = ctx.config.server.max_event_bytes;
      // One read of the URL serves the size check and the query parse
      // (c.req.queries() would read it again).
      const url = c.req.url;
      const query = url.indexOf("?");
      if (query >= 0 && url.length - query - 1 > maxEventBytes) {
        return tooLarge(c, "Query string", maxEventBytes);
      }
      if (method === "GET") {
        for (const [key, values] of Object.entries(queryParams(url, query))) {
          if (values.length > 1) {
            (problems ??= []).push({ field: key, problem: "is given more than once" });
          }
          input[key] = values[0];
        }
      } else {
        const body = await readJsonBody(c, {
          maxDepth: ctx.config.server.max_json_depth,
          limits: bodyLimits(ctx.config.server),
        });
        if (body !== undefined && !isJsonObject(body)) {
          return c.json(errorBody("invalid_body", "Body must be a JSON object of fields"), 400);
        }
        if (((c.get("body") ?? c.get("rawBody"))?.length ?? 0) > maxEventBytes) {
          return tooLarge(c, "Body", maxEventBytes);
        }
        input = body ?? {};
      }
      const item: IngestItem = { action, fields: input, fromText: method === "GET", problems };
      takeClientKeys(c, item);
      const [result] = await ingest(c, ctx, [item]);
      if (result!.status === "rejected") {
        return c.json(errorBody("invalid_fields", result!.error, result!.fields), 400);
      }
      if (result!.duplicate) c.header("idempotent-replayed", "true");
      return c.text(action.response);
    });
    app.all(action.path, (c) => methodNotAllowed(c.req.method, action.path, ["GET", "POST"]));
  }
  return app;
}

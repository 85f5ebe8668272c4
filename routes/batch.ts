/**
 * `POST /events`: many events in one call, as a JSON array or NDJSON of
 * `{action, ...fields}` objects, each with its own optional `event_id`,
 * `client_time` and `sent_at` (the `Sent-At` header gives every item's
 * `sent_at`). Valid items are written together and acknowledged together;
 * each item gets its own result, a repeat of a client id is accepted again
 * with `duplicate: true`.
 * Status: 200 all accepted, 207 some rejected, 400 none valid.
 *
 * @module
 */
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ActionConfig } from "../config/mod.ts";
import {
  bodyLimits,
  errorBody,
  type HeraldEnv,
  isJsonObject,
  methodNotAllowed,
  readJsonBody,
  type RouteContext,
  utf8Length,
} from "./_shared.ts";
import { sentAtHeader } from "./client_time.ts";
import { ingest, type IngestItem, type IngestResult } from "./ingest.ts";

/** One item's outcome in the batch answer: its index, then what {@linkcode ingest} said. */
export type BatchResult = { index: number } & IngestResult;

/** Builds the batch route. */
export function batchRoutes(ctx: RouteContext): Hono<HeraldEnv> {
  const actions = new Map<string, ActionConfig>(ctx.config.actions.map((a) => [a.name, a]));
  const max = ctx.config.server.max_batch_events;
  const app = new Hono<HeraldEnv>();
  app.post("/events", async (c) => {
    const items = await readJsonBody(c, {
      ndjson: true,
      maxDepth: ctx.config.server.max_json_depth,
      limits: bodyLimits(ctx.config.server),
    });
    if (!Array.isArray(items) || items.length === 0) {
      throw new HTTPException(400, {
        message: "Body must be a non-empty JSON array or NDJSON of events",
      });
    }
    if (items.length > max) {
      return c.json(
        errorBody("too_many_events", `A batch holds at most ${max} events, got ${items.length}`),
        413,
      );
    }
    ctx.metrics.batchEvents.observe(items.length);
    if (c.req.raw.headers.has("idempotency-key")) {
      const problem = {
        field: "Idempotency-Key",
        problem: "names one event: give each batch item its own event_id",
      };
      return c.json(
        errorBody("invalid_events", "Idempotency-Key is for single events", [problem]),
        400,
      );
    }
    const sentAt = sentAtHeader(c.req.raw.headers);
    const results: BatchResult[] = new Array(items.length);
    // Indexes of the items handed to ingest(), in order.
    const taken: number[] = [];
    const valid: IngestItem[] = [];
    const maxEventBytes = ctx.config.server.max_event_bytes;
    items.forEach((item: unknown, index) => {
      if (!isJsonObject(item)) {
        results[index] = { index, status: "rejected", error: "Item must be a JSON object" };
        return;
      }
      const size = utf8Length(JSON.stringify(item));
      if (size > maxEventBytes) {
        const error = `Item is ${size} bytes of JSON, over the limit of ${maxEventBytes}`;
        results[index] = { index, status: "rejected", error };
        return;
      }
      const { action: name, event_id, client_time, sent_at, ...fields } = item;
      const action = typeof name === "string" ? actions.get(name) : undefined;
      if (!action) {
        const error = `Unknown action ${JSON.stringify(name ?? null)}`;
        results[index] = { index, status: "rejected", error };
        return;
      }
      taken.push(index);
      valid.push({
        action,
        fields,
        fromText: false,
        eventId: event_id,
        clientTime: client_time,
        sentAt: sent_at ?? sentAt,
        fieldNames: sent_at === undefined && sentAt !== undefined
          ? { sentAt: "Sent-At" }
          : undefined,
      });
    });
    (await ingest(c, ctx, valid)).forEach((result, i) => {
      const index = taken[i]!;
      results[index] = { index, ...result };
    });
    const accepted = results.filter((r) => r.status === "accepted").length;
    const body = { accepted, rejected: items.length - accepted, results };
    if (accepted === 0) {
      return c.json(
        { error: "invalid_events", message: "No event in the batch is valid", ...body },
        400,
      );
    }
    return c.json(body, accepted === items.length ? 200 : 207);
  });
  app.all("/events", (c) => methodNotAllowed(c.req.method, "/events", ["POST"]));
  return app;
}

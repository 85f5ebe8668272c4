/**
 * `POST /events`: many events in one call, as a JSON array or NDJSON of
 * `{action, ...fields}` objects. Valid items are written together and
 * acknowledged together; each item gets its own result.
 * Status: 200 all accepted, 207 some rejected, 400 none valid.
 *
 * @module
 */
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ActionConfig } from "../config/mod.ts";
import type { Event } from "../sinks/contract.ts";
import {
  bodyLimits,
  buildEvent,
  errorBody,
  type HeraldEnv,
  isJsonObject,
  methodNotAllowed,
  readJsonBody,
  type RouteContext,
  utf8Length,
} from "./_shared.ts";
import type { FieldProblem } from "./enrich.ts";

/** One item's outcome in the batch answer. */
export type BatchResult =
  | { index: number; status: "accepted"; event_id: string }
  | { index: number; status: "rejected"; error: string; fields?: FieldProblem[] };

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
    const results: BatchResult[] = [];
    const events: Event[] = [];
    const maxEventBytes = ctx.config.server.max_event_bytes;
    items.forEach((item: unknown, index) => {
      if (!isJsonObject(item)) {
        results.push({ index, status: "rejected", error: "Item must be a JSON object" });
        return;
      }
      const size = utf8Length(JSON.stringify(item));
      if (size > maxEventBytes) {
        const error = `Item is ${size} bytes of JSON, over the limit of ${maxEventBytes}`;
        results.push({ index, status: "rejected", error });
        return;
      }
      const { action: name, ...fields } = item;
      const action = typeof name === "string" ? actions.get(name) : undefined;
      if (!action) {
        results.push({
          index,
          status: "rejected",
          error: `Unknown action ${JSON.stringify(name ?? null)}`,
        });
        return;
      }
      const built = buildEvent(c, ctx, action, fields, false);
      if ("problems" in built) {
        const error = `Invalid fields for action "${action.name}"`;
        results.push({ index, status: "rejected", error, fields: built.problems });
        return;
      }
      events.push(built.event);
      results.push({ index, status: "accepted", event_id: built.event.event_id as string });
    });
    const accepted = events.length;
    const body = { accepted, rejected: items.length - accepted, results };
    if (accepted === 0) {
      return c.json(
        { error: "invalid_events", message: "No event in the batch is valid", ...body },
        400,
      );
    }
    await ctx.fanOut.write(events);
    return c.json(body, accepted === items.length ? 200 : 207);
  });
  app.all("/events", (c) => methodNotAllowed(c.req.method, "/events", ["POST"]));
  return app;
}

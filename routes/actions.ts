/**
 * One route per configured game action. GET takes fields from the query
 * string, POST from a JSON object body; the answer is the action's response
 * text, sent once every sink has the event.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { getQueryParams } from "hono/utils/url";
import {
  bodyLimits,
  buildEvent,
  errorBody,
  type HeraldEnv,
  isJsonObject,
  methodNotAllowed,
  readJsonBody,
  type RouteContext,
} from "./_shared.ts";
import type { FieldProblem } from "./enrich.ts";

function tooLarge(c: Context<HeraldEnv>, what: string, max: number): Response {
  return c.json(errorBody("event_too_large", `${what} exceeds ${max} bytes (one event)`), 413);
}

/** The query string's parameters, each with every value given. */
function queryParams(url: string, query: number): Record<string, string[]> {
  return query < 0 ? {} : getQueryParams(url) as Record<string, string[]>;
}

/** Builds the action routes; other methods on an action's path get 405. */
export function actionRoutes(ctx: RouteContext): Hono<HeraldEnv> {
  const app = new Hono<HeraldEnv>();
  for (const action of ctx.config.actions) {
    app.on(["GET", "POST"], action.path, async (c) => {
      const method = c.req.method;
      if (method === "HEAD") return methodNotAllowed(method, action.path, ["GET", "POST"]);
      let input: Record<string, unknown> = {};
      const problems: FieldProblem[] = [];
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
          if (values.length > 1) problems.push({ field: key, problem: "is given more than once" });
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
      const result = buildEvent(c, ctx, action, input, method === "GET");
      if ("problems" in result || problems.length > 0) {
        const all = [...problems, ...("problems" in result ? result.problems : [])];
        return c.json(
          errorBody("invalid_fields", `Invalid fields for action "${action.name}"`, all),
          400,
        );
      }
      await ctx.fanOut.write([result.event]);
      return c.text(action.response);
    });
    app.all(action.path, (c) => methodNotAllowed(c.req.method, action.path, ["GET", "POST"]));
  }
  return app;
}

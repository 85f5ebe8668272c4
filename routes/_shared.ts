import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { Logger } from "pino";
import type { ActionConfig, GatewayConfig } from "../config/mod.ts";
import type { FanOut } from "../sinks/fan_out.ts";
import type { Event } from "../sinks/mod.ts";
import { clientIp, enrich, type EnrichDeps, type FieldProblem, readFields } from "./enrich.ts";

/** Hono environment of Herald's app: Deno's connection info and the request id. */
export interface HeraldEnv {
  Bindings: { remoteAddr?: Deno.NetAddr } | undefined;
  Variables: { requestId: string };
}

/** Everything route builders need. */
export interface RouteContext {
  config: GatewayConfig;
  fanOut: FanOut;
  logger: Logger;
  deps: EnrichDeps;
}

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

/** Reads a JSON body; an empty body is `undefined`. Throws 400/415 on anything else. */
export async function readJsonBody(c: Context<HeraldEnv>, ndjson = false): Promise<unknown> {
  const type = c.req.header("content-type")?.split(";")[0]?.trim().toLowerCase();
  const text = await c.req.text();
  if (text.trim() === "") return undefined;
  const isNdjson = type === "application/x-ndjson" || type === "application/jsonl";
  if (type !== undefined && type !== "application/json" && !(ndjson && isNdjson)) {
    const expected = ndjson ? "application/json or application/x-ndjson" : "application/json";
    throw new HTTPException(415, { message: `Content-Type must be ${expected}, got "${type}"` });
  }
  try {
    if (isNdjson) return text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
    return JSON.parse(text);
  } catch (error) {
    throw new HTTPException(400, {
      message: `Body is not valid JSON: ${(error as Error).message}`,
    });
  }
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
  };
  return {
    event: enrich(action, result.values, meta, {
      headers: ctx.config.enrich.headers,
      deps: ctx.deps,
    }),
  };
}

/**
 * Builds Herald's Hono app from the config: one route per action, the batch
 * route, health and readiness, and one error mapper for all of them.
 *
 * @module
 */
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { Logger } from "pino";
import { type GatewayConfig, SEGMENT_PATHS } from "../config/mod.ts";
import { SinkUnavailableError } from "../sinks/contract.ts";
import type { FanOut, FanOutHealth } from "../sinks/fan_out.ts";
import { isLivePath, liveRoutes, type LiveSetup, tapRejection } from "../live/mod.ts";
import { actionRoutes } from "./actions.ts";
import { batchRoutes } from "./batch.ts";
import { DedupWindow } from "./dedup.ts";
import { segmentRoutes } from "./segment.ts";
import type { EnrichDeps } from "./enrich.ts";
import { guards, type SecretSource } from "./guard.ts";
import { uuidv7Generator } from "./ids.ts";
import {
  errorBody,
  type HeraldEnv,
  ROUTE_LABELS,
  type RouteContext,
  type RouteMetrics,
} from "./_shared.ts";

export type { HeraldEnv, RouteMetrics } from "./_shared.ts";
export { type DedupStats, DedupWindow } from "./dedup.ts";
export { ROUTE_LABELS } from "./_shared.ts";

/** Error codes of the JSON body, by status, for errors raised while reading a request. */
const HTTP_ERRORS: Record<number, string> = {
  408: "request_timeout",
  413: "payload_too_large",
  415: "unsupported_media_type",
};

/** Injected clock, ids and randomness; defaults are the real ones. */
export interface AppDeps extends EnrichDeps {
  requestId(): string;
}

/** Options of {@linkcode buildApp}. */
export interface AppOptions {
  logger: Logger;
  deps?: Partial<AppDeps>;
  /** Where write-key values come from (default: env and files). */
  secrets?: SecretSource;
  /** Counts requests and serves /metrics (ops' `Metrics`). */
  metrics: RouteMetrics;
  /** The other worker processes on the same port, when there are several. */
  workers?: WorkerView;
  /**
   * The live events page's hub and key; absent when the page is off. The
   * server also taps the fan-out into the hub (`tapFanOut`).
   */
  live?: LiveSetup;
  /**
   * Client ids acknowledged recently: pass the same one to every app a
   * reload builds, and resize it to the new config once the reload has taken.
   */
  dedup?: DedupWindow;
}

/** One worker process's readiness, as `/readyz` shows it. */
export interface WorkerReadiness {
  ok: boolean;
  /** Why a worker that did not answer counts as not ready. */
  detail?: string;
  sinks?: FanOutHealth["sinks"];
}

/** What a worker process knows of its siblings: `/readyz` answers for all of them. */
export interface WorkerView {
  /** This process's worker index. */
  index: number;
  /** The readiness of every other worker, by index. */
  siblings(): Promise<Map<number, WorkerReadiness>>;
}

/** Builds the app; `fanOut` receives every accepted event. */
export function buildApp(
  config: GatewayConfig,
  fanOut: FanOut,
  options: AppOptions,
): Hono<HeraldEnv> {
  const { logger } = options;
  const deps: AppDeps = {
    now: Date.now,
    eventId: uuidv7Generator(),
    random: Math.random,
    requestId: () => crypto.randomUUID(),
    ...options.deps,
  };
  const { metrics, live } = options;
  metrics.watchSinks(fanOut.sinks);
  // The server resizes a shared window once a reload has taken.
  const dedup = options.dedup ?? new DedupWindow(config.dedup);
  metrics.watchDedup(() => dedup.stats(deps.now()));
  const ctx: RouteContext = { config, fanOut, logger, deps, metrics, dedup };
  const app = new Hono<HeraldEnv>();

  // The `action` label of each path: bounded, whatever paths clients try.
  const actionOf = new Map<string, string>([
    ["/events", ROUTE_LABELS.batch],
    ...["/healthz", "/readyz", "/metrics"].map((p): [string, string] => [p, ROUTE_LABELS.ops]),
    ...config.actions.map((a): [string, string] => [a.path, a.name]),
  ]);
  const segmentPaths = config.segment.enabled ? SEGMENT_PATHS : [];
  for (const path of segmentPaths) actionOf.set(path, ROUTE_LABELS.segment);
  // The Segment routes take larger bodies (Segment's 500 KB batches); every
  // route still cuts its own body off at its own limit as it reads it.
  const maxBody = config.segment.enabled
    ? Math.max(config.server.max_body_bytes, config.segment.max_batch_bytes)
    : config.server.max_body_bytes;

  // One middleware, as every request runs it (each one more costs a dispatch).
  // Request ids are always ours: a client's X-Request-Id is not trusted (hono's
  // requestId middleware would adopt it), and ours is echoed back for support.
  // A declared length over the limit is refused before anything else runs;
  // bodies without one (chunked) or longer than declared are counted as they
  // are read (readRawBody), with a deadline.
  app.use(async (c, next) => {
    const id = deps.requestId();
    c.set("requestId", id);
    const declared = c.req.raw.headers.get("content-length");
    if (declared !== null && Number(declared) > maxBody) {
      c.res = c.json(
        errorBody("payload_too_large", `Body exceeds ${maxBody} bytes`),
        413,
      );
    } else await next();
    c.res.headers.set("x-request-id", id);
    const status = c.res.status;
    const label = actionOf.get(c.req.path);
    metrics.requests.add(label ?? ROUTE_LABELS.unmatched, status);
    // The live page shows every refused request but those to Herald's own pages.
    if (
      live && (status >= 400 || status === 207) && label !== ROUTE_LABELS.ops &&
      !isLivePath(c.req.path)
    ) tapRejection(live.hub, c.req.raw, c.res, id, deps.now());
  });

  const eventPaths = new Set(["/events", ...config.actions.map((a) => a.path), ...segmentPaths]);
  for (
    const guard of guards(config, (path) => eventPaths.has(path), {
      now: deps.now,
      secrets: options.secrets,
    })
  ) app.use(guard);

  const { workers } = options;
  app.get(
    "/healthz",
    (c) => c.json(workers ? { status: "ok", worker: workers.index } : { status: "ok" }),
  );
  // With several workers, ready means every worker's sinks are.
  app.get("/readyz", async (c) => {
    const [health, siblings] = await Promise.all([fanOut.health(), workers?.siblings()]);
    const all = new Map(siblings);
    if (workers) all.set(workers.index, { ok: health.ok, sinks: health.sinks });
    const ok = health.ok && [...all.values()].every((w) => w.ok);
    const body = { status: ok ? "ready" : "unavailable", sinks: health.sinks };
    return c.json(
      workers
        ? {
          ...body,
          worker: workers.index,
          workers: Object.fromEntries([...all].sort(([a], [b]) => a - b)),
        }
        : body,
      ok ? 200 : 503,
    );
  });
  app.get("/metrics", async (c) => {
    const { body, contentType } = await metrics.scrape();
    return c.body(body, 200, { "content-type": contentType });
  });
  if (live) app.route("/", liveRoutes(live, { trustProxy: config.server.trust_proxy }));
  app.route("/", batchRoutes(ctx));
  if (config.segment.enabled) app.route("/", segmentRoutes(ctx));
  app.route("/", actionRoutes(ctx));

  app.notFound((c) => c.json(errorBody("not_found", `No action at "${c.req.path}"`), 404));
  app.onError((error, c) => {
    const requestId = c.get("requestId");
    if (error instanceof SinkUnavailableError) {
      logger.warn({ request_id: requestId, err: error.message }, "event not accepted");
      c.header("retry-after", String(error.retryAfterS));
      return c.json(
        errorBody("unavailable", `Event not accepted, retry later: ${error.message}`),
        503,
      );
    }
    if (error instanceof HTTPException) {
      const code = HTTP_ERRORS[error.status] ?? "bad_request";
      // A half-read body leaves the connection unusable for another request.
      if (error.status === 408 || error.status === 413) c.header("connection", "close");
      return c.json(errorBody(code, error.message), error.status);
    }
    logger.error({ request_id: requestId, err: error }, "request failed");
    return c.json(errorBody("internal_error", "Internal error"), 500);
  });
  return app;
}

/**
 * A worker process's view of its siblings, when `--workers N` runs several on
 * one port. Each worker answers on a private unix socket, `w<i>.sock` in a
 * folder the supervisor made, with its own metrics (prom-client's JSON) and
 * its sinks' health. The worker that receives a `/metrics` or `/readyz`
 * request asks every sibling and answers for the whole server. With the
 * live page on, each also serves its live items there (`/live/feed`), which
 * the worker a page's stream reached relays to it (`relayLive`).
 *
 * @module
 */
import type { MetricObjectWithValues, MetricValue } from "prom-client";
import type { WorkerReadiness } from "../routes/mod.ts";
import type { FanOutHealth } from "../sinks/fan_out.ts";
import type { WorkerSlot } from "../sinks/contract.ts";
import { type Relay, Relayed, sseMessages, type Viewer } from "../live/mod.ts";

/** The environment variable the supervisor hands a worker its identity in (JSON). */
export const WORKER_ENV = "HERALD_WORKER";

/** What the supervisor tells a worker process. */
export interface WorkerIdentity extends WorkerSlot {
  /** The folder of every worker's control socket. */
  dir: string;
}

/** A worker's own metrics, as prom-client's `getMetricsAsJSON()` gives them. */
export type WorkerMetrics = MetricObjectWithValues<MetricValue<string>>[];

/** How long a sibling may take to answer before it counts as not answering. */
const ASK_TIMEOUT_MS = 2000;

/** The control socket of worker `index`. */
export function controlSocket(dir: string, index: number): string {
  return `${dir}/w${index}.sock`;
}

/** Reads a worker's identity from `HERALD_WORKER`; undefined when it is not a worker. */
export function workerFromEnv(
  env: (name: string) => string | undefined,
): WorkerIdentity | undefined {
  const text = env(WORKER_ENV);
  if (!text) return undefined;
  const { index, count, dir } = JSON.parse(text);
  if (!Number.isInteger(index) || !Number.isInteger(count) || typeof dir !== "string") {
    throw new TypeError(`Cannot read ${WORKER_ENV}: "${text}"`);
  }
  return { index, count, dir };
}

/** What a worker's control socket answers with. */
export interface ControlHandlers {
  /** The port the worker serves on. */
  port: number;
  metrics(): Promise<WorkerMetrics>;
  health(): Promise<FanOutHealth>;
  /** This worker's live items for a sibling to relay, or null while the live page is off. */
  liveFeed?(request: Request): Response | null;
}

/**
 * Serves `GET /status`, `/metrics` and `/readyz` of this worker on its
 * control socket; resolves once it listens. A socket file a killed worker
 * left is replaced.
 */
export async function serveControl(
  worker: WorkerIdentity,
  handlers: ControlHandlers,
): Promise<Deno.HttpServer> {
  const path = controlSocket(worker.dir, worker.index);
  await Deno.remove(path).catch(() => {});
  const { promise, resolve } = Promise.withResolvers<void>();
  const server = Deno.serve({ path, onListen: () => resolve() }, async (request) => {
    switch (new URL(request.url).pathname) {
      case "/status":
        return Response.json({ index: worker.index, port: handlers.port, pid: Deno.pid });
      case "/metrics":
        return Response.json(await handlers.metrics());
      case "/readyz":
        return Response.json(await handlers.health());
      case "/live/feed":
        return handlers.liveFeed?.(request) ?? new Response("Not found", { status: 404 });
      default:
        return new Response("Not found", { status: 404 });
    }
  });
  await promise;
  return server;
}

/** Fetches `path` from worker `index`'s control socket; rejects after `timeoutMs`. */
export async function askWorker<T>(
  dir: string,
  index: number,
  path: string,
  timeoutMs = ASK_TIMEOUT_MS,
): Promise<T> {
  const client = Deno.createHttpClient({
    proxy: { transport: "unix", path: controlSocket(dir, index) },
  });
  try {
    const res = await fetch(`http://worker${path}`, {
      client,
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) throw new Error(`worker ${index} answered ${res.status} to ${path}`);
    return await res.json() as T;
  } finally {
    client.close();
  }
}

/** One worker's answer, or why there is none. */
export type Answer<T> = { value: T } | { error: string };

/** The other workers' answers to `path`, by index. */
export async function askSiblings<T>(
  worker: WorkerIdentity,
  path: string,
): Promise<Map<number, Answer<T>>> {
  const others = [...Array(worker.count).keys()].filter((i) => i !== worker.index);
  const answers = await Promise.all(others.map(async (i): Promise<[number, Answer<T>]> => {
    try {
      return [i, { value: await askWorker<T>(worker.dir, i, path) }];
    } catch (error) {
      return [i, { error: (error as Error).message }];
    }
  }));
  return new Map(answers);
}

/** The other workers' own metrics, of those that answered. */
export async function siblingMetrics(worker: WorkerIdentity): Promise<WorkerMetrics[]> {
  const answers = await askSiblings<WorkerMetrics>(worker, "/metrics");
  return [...answers.values()].flatMap((a) => "value" in a ? [a.value] : []);
}

/** The other workers' readiness, by index; one that does not answer is not ready. */
export async function siblingReadiness(
  worker: WorkerIdentity,
): Promise<Map<number, WorkerReadiness>> {
  const answers = await askSiblings<FanOutHealth>(worker, "/readyz");
  return new Map(
    [...answers].map(([i, a]): [number, WorkerReadiness] =>
      "value" in a
        ? [i, { ok: a.value.ok, sinks: a.value.sinks }]
        : [i, { ok: false, detail: `worker ${i} did not answer: ${a.error}` }]
    ),
  );
}

/** How long a relay waits before it asks a sibling that did not answer again. */
const RELAY_RETRY_MS = 1000;

/**
 * Relays every sibling's live items into a viewer of this worker, so one
 * page sees the whole server. Each sibling's feed resumes after the last
 * item the viewer got from it; a sibling that is gone (restarting) is asked
 * again every second, and counts as no source in the status meanwhile.
 */
export function relayLive(worker: WorkerIdentity): Relay {
  return (viewer, after) => {
    for (let i = 0; i < worker.count; i++) {
      if (i !== worker.index) void follow(worker, i, viewer, after.get(i));
    }
  };
}

async function follow(
  worker: WorkerIdentity,
  index: number,
  viewer: Viewer,
  after: number | undefined,
): Promise<void> {
  let last = after;
  while (!viewer.closed) {
    const client = Deno.createHttpClient({
      proxy: { transport: "unix", path: controlSocket(worker.dir, index) },
    });
    try {
      const res = await fetch("http://worker/live/feed", {
        client,
        signal: viewer.signal,
        headers: last === undefined ? {} : { "last-event-id": String(last) },
      });
      if (res.ok && res.body) {
        for await (const message of sseMessages(res.body)) {
          if (message.event === "status") {
            viewer.relayed.set(index, JSON.parse(message.data));
          } else if (message.id !== undefined) {
            last = Number(message.id);
            viewer.push({ seq: last, item: new Relayed(index, last, message.data) });
          }
        }
      } else await res.body?.cancel();
    } catch {
      /* gone or aborted: asked again below */
    } finally {
      client.close();
    }
    viewer.relayed.delete(index);
    if (!viewer.closed) {
      await new Promise<void>((resolve) => {
        const abort = () => {
          clearTimeout(timer);
          resolve();
        };
        // Each retry's listener goes with its timer: a sibling down for long
        // must not pile listeners on the viewer's signal.
        const timer = setTimeout(() => {
          viewer.signal.removeEventListener("abort", abort);
          resolve();
        }, RELAY_RETRY_MS);
        viewer.signal.addEventListener("abort", abort, { once: true });
      });
    }
  }
}

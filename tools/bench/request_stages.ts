/**
 * The single-event path's cost stage by stage, in-process: what one
 * `GET /purchase_a_sword` costs in routing, the middleware, query parsing,
 * field validation, enrichment (id, time, headers), the stdout line and its
 * write, as the bench's stdout row serves it. Writes run 50 at a time, as
 * 50 connections send them, so the group commit batches as it does under load.
 * The HTTP server and the socket are what the bench's server CPU per request
 * adds on top; the bare ceiling's server CPU is their cost without Herald.
 *
 * ```sh
 * deno run -A tools/bench/request_stages.ts      # prints the Markdown table
 * ```
 *
 * @module
 */
import pino from "pino";
import { Hono } from "hono";
import { getQueryParams } from "hono/utils/url";
import { loadConfig } from "../../config/mod.ts";
import { buildApp } from "../../routes/mod.ts";
import { enrich, readFields } from "../../routes/enrich.ts";
import { uuidv7Generator } from "../../routes/ids.ts";
import { FanOut } from "../../sinks/fan_out.ts";
import { MemorySink } from "../../sinks/memory.ts";
import { SINKS } from "../../sinks/mod.ts";
import { createStdoutSink } from "../../sinks/stdout.ts";
import { Metrics } from "../../ops/metrics.ts";
import { CONFIG } from "./process.ts";
import { markdownTable } from "./tables.ts";
import { type Stage, time, timeAsync } from "./stages.ts";

/** Requests in flight at once, as the bench's closed loop keeps them. */
const IN_FLIGHT = 50;

const URL_TEXT = "http://127.0.0.1:5000/purchase_a_sword?sword_type=long";
const HEADERS = {
  host: "knight1.yahoo.com",
  "user-agent": "herald-load",
  accept: "*/*",
};

/** A writer that takes every byte at once, as `/dev/null` does. */
const nullWriter = { write: (bytes: Uint8Array) => Promise.resolve(bytes.length) };

/** Mean µs per call of `fn`, run {@linkcode IN_FLIGHT} at a time. */
async function timeConcurrent(fn: () => Promise<unknown>, ms?: number): Promise<number> {
  const batch = () => Promise.all(Array.from({ length: IN_FLIGHT }, fn));
  return await timeAsync(batch, ms) / IN_FLIGHT;
}

/** Profiles `GET /purchase_a_sword` from `config` (the shipped one by default). */
export async function profileRequestStages(
  options: { config?: string } = {},
): Promise<Stage[]> {
  const loaded = await loadConfig(options.config ?? CONFIG, { registry: SINKS });
  if (!loaded.ok) throw new Error(loaded.errors.join("\n"));
  const config = loaded.config;
  const action = config.actions.find((a) => a.name === "purchase_a_sword");
  if (!action) throw new Error("The config has no purchase_a_sword action");
  const logger = pino({ level: "silent" });
  const metrics = new Metrics();
  const stdout = createStdoutSink({ max_pending_bytes: 16 * 1024 * 1024 }, nullWriter);
  const app = buildApp(config, new FanOut([stdout], { timeoutMs: 5000 }), { logger, metrics });
  const request = () => new Request(URL_TEXT, { headers: HEADERS });
  const serve = async () => {
    const res = await app.fetch(request(), { remoteAddr: { hostname: "127.0.0.1" } });
    if (res.status !== 200) throw new Error(`GET /purchase_a_sword answered ${res.status}`);
    await res.arrayBuffer();
  };

  // The same routes answering a constant: Hono's routing, context and answer alone.
  const bare = new Hono();
  for (const a of config.actions) bare.get(a.path, (c) => c.text(a.response));
  const serveBare = async () => {
    const res = await bare.fetch(request());
    await res.arrayBuffer();
  };

  const req = request();
  const headers = req.headers;
  const input = { sword_type: "long" };
  const random = Math.random;
  const values = readFields(action, input, true, random);
  if ("problems" in values) throw new Error(JSON.stringify(values.problems));
  const eventId = uuidv7Generator();
  const deps = { now: Date.now, eventId, random };
  const meta = { headers, clientIp: "127.0.0.1", requestId: crypto.randomUUID() };
  const event = enrich(action, values.values, meta, { headers: config.enrich.headers, deps });
  const memory = new MemorySink();
  const fanOut = new FanOut([memory], { timeoutMs: 5000 });

  const whole = await timeConcurrent(serve);
  const stages: Stage[] = [
    {
      stage: "Request and Headers objects (Deno.serve makes these too)",
      usPerEvent: time(request),
    },
    { stage: "Hono routing, context and text answer (same routes, constant)", usPerEvent: 0 },
    { stage: "request id (crypto.randomUUID)", usPerEvent: time(() => crypto.randomUUID()) },
    {
      stage: "request counter (prom-client, by action and status)",
      usPerEvent: time(() => metrics.requests.add("purchase_a_sword", 200)),
    },
    { stage: "query string parse", usPerEvent: time(() => getQueryParams(URL_TEXT)) },
    {
      stage: "field validation and defaults (readFields)",
      usPerEvent: time(() => readFields(action, input, true, random)),
    },
    {
      stage: "enrichment: id, time, headers (enrich)",
      usPerEvent: time(() =>
        enrich(action, values.values, meta, { headers: config.enrich.headers, deps })
      ),
    },
    { stage: "  of which: UUIDv7 event id", usPerEvent: time(() => eventId(Date.now())) },
    {
      stage: "  of which: received_at (toISOString)",
      usPerEvent: time(() => new Date(Date.now()).toISOString()),
    },
    {
      stage: "fan-out to one sink (promise, deadline bookkeeping)",
      usPerEvent: await timeConcurrent(async () => {
        await fanOut.write([event]);
        memory.events.length = 0;
      }),
    },
    {
      stage: "stdout sink: the line (JSON.stringify) and its group commit",
      usPerEvent: await timeConcurrent(() => stdout.write([event])),
    },
    {
      stage: "  of which: JSON.stringify of the event alone",
      usPerEvent: time(() => JSON.stringify(event)),
    },
  ];
  stages[1]!.usPerEvent = await timeConcurrent(serveBare) - stages[0]!.usPerEvent;
  const parts = stages.filter((s) => !s.stage.startsWith("  ")).reduce(
    (n, s) => n + s.usPerEvent,
    0,
  );
  return [
    {
      stage: "whole request in-process (app.fetch, stdout sink to a null writer)",
      usPerEvent: whole,
    },
    ...stages,
    {
      stage: "the rest (Hono middleware chain, the handler's own work, x-request-id)",
      usPerEvent: whole - parts,
    },
  ];
}

/** What the stage table measures, for the report. */
export const REQUEST_STAGES_NOTE =
  "- Measured in the bench's own process after the load (`tools/bench/request_stages.ts`): the " +
  "whole request through `app.fetch()` with the stdout sink writing to a null writer, then each " +
  "stage alone on the same request, as mean CPU µs per request (user + system of the process); writes run 50 at a time, as the " +
  "closed loop's 50 connections send them. The stdout row's server µs/event above minus the whole " +
  "request is what Deno's HTTP server and the socket cost; the ceiling's server µs/event is that " +
  "cost for a bare `Deno.serve`.";

/** The stages as a Markdown table. */
export function renderRequestStages(stages: readonly Stage[]): string {
  return markdownTable(
    ["stage (GET /purchase_a_sword, stdout sink)", "µs/request"],
    stages.map((s) => [s.stage, s.usPerEvent.toFixed(2)]),
  );
}

if (import.meta.main) console.log(renderRequestStages(await profileRequestStages()));

/**
 * The batch route's cost stage by stage, in-process: what one event of a
 * `POST /events` of 100 costs in body parsing, the per-item checks,
 * validation and enrichment, the Kafka record's JSON, and the Produce
 * request's encoding. The HTTP server and the socket are what the bench's
 * server CPU per event adds on top.
 *
 * ```sh
 * deno run -A tools/bench/stages.ts      # prints the Markdown table
 * ```
 *
 * @module
 */
import process from "node:process";
import pino from "pino";
import { createRecordsBatch } from "@platformatic/kafka";
import { loadConfig } from "../../config/mod.ts";
import { buildApp } from "../../routes/mod.ts";
import { FanOut } from "../../sinks/fan_out.ts";
import { MemorySink } from "../../sinks/memory.ts";
import { partitionOfKey } from "../../sinks/kafka/_murmur2.ts";
import { type Event, SINKS } from "../../sinks/mod.ts";
import { Metrics } from "../../ops/metrics.ts";
import { markdownTable } from "./tables.ts";

/** One stage's cost. */
export interface Stage {
  stage: string;
  usPerEvent: number;
}

/** CPU microseconds (user + system) this process has used so far. */
function cpuUs(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/**
 * Mean CPU µs per call of `fn` over about `ms` of repetitions, after a
 * warm-up: CPU time rather than wall time, so other work on a shared machine
 * does not count (V8's own threads, the garbage collector's, do).
 */
export function time(fn: () => unknown, ms = 600): number {
  for (let i = 0; i < 50; i++) fn();
  let calls = 0;
  const started = performance.now();
  const cpu = cpuUs();
  while (performance.now() - started < ms) {
    fn();
    calls++;
  }
  return (cpuUs() - cpu) / calls;
}

/** {@linkcode time} for an async `fn`, one call at a time. */
export async function timeAsync(fn: () => Promise<unknown>, ms = 1500): Promise<number> {
  for (let i = 0; i < 50; i++) await fn();
  let calls = 0;
  const started = performance.now();
  const cpu = cpuUs();
  while (performance.now() - started < ms) {
    await fn();
    calls++;
  }
  return (cpuUs() - cpu) / calls;
}

/** Profiles a batch of `size` sword purchases from `config` (the shipped one by default). */
export async function profileBatchStages(
  options: { size?: number; config?: string } = {},
): Promise<Stage[]> {
  const size = options.size ?? 100;
  const loaded = await loadConfig(options.config ?? "config/gateway.yaml", { registry: SINKS });
  if (!loaded.ok) throw new Error(loaded.errors.join("\n"));
  const config = loaded.config;
  const items = Array.from({ length: size }, (_, i) => ({
    action: "purchase_a_sword",
    sword_type: ["short", "long", "large"][i % 3],
  }));
  const body = items.map((i) => JSON.stringify(i)).join("\n");
  const sink = new MemorySink();
  const fanOut = new FanOut([sink], { timeoutMs: 5000 });
  const app = buildApp(config, fanOut, {
    logger: pino({ level: "silent" }),
    metrics: new Metrics(),
  });
  const post = async () => {
    const res = await app.request("/events", {
      method: "POST",
      body,
      headers: {
        "content-type": "application/x-ndjson",
        host: "user1.comcast.com",
        "user-agent": "bench",
      },
    });
    if (res.status !== 200) throw new Error(`POST /events answered ${res.status}`);
    await res.arrayBuffer();
  };
  const request = () => post().then(() => void (sink.events.length = 0));
  const route = await timeAsync(request) / size;
  const parse = time(() => body.split("\n").map((line) => JSON.parse(line))) / size;
  const sizeCheck = time(() => items.map((i) => JSON.stringify(i).length)) / size;
  await post();
  const events: Event[] = sink.events.slice(0, size);
  const serialize = time(() => events.map((e) => JSON.stringify(e))) / size;
  const values = events.map((e) => JSON.stringify(e));
  const keys = events.map((e) => String(e.host));
  const route3 = time(() => keys.map((k) => partitionOfKey(k, 3))) / size;
  const records = values.map((v, i) => ({
    topic: "events",
    partition: 0,
    key: Buffer.from(keys[i]!),
    value: Buffer.from(v),
    headers: new Map([[Buffer.from("event_type"), Buffer.from("purchase_sword")]]),
    timestamp: BigInt(Date.now()),
  }));
  const toBuffers = time(() => values.map((v) => Buffer.from(v))) / size;
  const encode = time(() => createRecordsBatch(records, { compression: "none" })) / size;
  return [
    {
      stage:
        "whole route in-process (Hono, body read, parse, checks, validation, enrichment, fan-out to memory)",
      usPerEvent: route,
    },
    { stage: "  of which: NDJSON parse (JSON.parse per line)", usPerEvent: parse },
    { stage: "  of which: per-item size check (JSON.stringify per item)", usPerEvent: sizeCheck },
    {
      stage: "  of which: validation, enrichment, ids, Hono, the answer (the rest)",
      usPerEvent: route - parse - sizeCheck,
    },
    { stage: "Kafka sink: the record's JSON (JSON.stringify per event)", usPerEvent: serialize },
    { stage: "Kafka sink: partition (murmur2 of the key)", usPerEvent: route3 },
    { stage: "Kafka client: strings to bytes", usPerEvent: toBuffers },
    { stage: "Kafka client: record batch encoding (CRC32C included)", usPerEvent: encode },
  ];
}

/** What the stage table measures, for the report. */
export const STAGES_NOTE =
  "- Measured in the bench's own process after the load (`tools/bench/stages.ts`): the route through " +
  "`app.request()` with an in-memory sink (no socket), and each later stage alone on the same 100 " +
  "events, as mean CPU µs per event. The batch row's server µs/event above, minus the whole route and " +
  "the Kafka stages, is what the HTTP server, the socket and the client's sending cost.";

/** The stages as a Markdown table. */
export function renderStages(stages: readonly Stage[]): string {
  return markdownTable(
    ["stage (POST /events, 100 events per request)", "µs/event"],
    stages.map((s) => [s.stage, s.usPerEvent.toFixed(2)]),
  );
}

if (import.meta.main) console.log(renderStages(await profileBatchStages()));

import { sinkOptions } from "../../sinks/contract.ts";
import assert from "node:assert/strict";
import pino from "pino";
import { Metrics } from "../../ops/metrics.ts";
import { createKafkaSink, kafkaSink } from "../../sinks/kafka/mod.ts";
import { createParquetSink, parquetSink } from "../../sinks/parquet/mod.ts";
import { createStdoutSink } from "../../sinks/stdout.ts";
import { openLake } from "../../query/mod.ts";
import {
  appWithMemorySink,
  closedPort,
  configFrom,
  sample,
  shippedConfig,
  startHerald,
  waitFor,
} from "../_testing.ts";

const silent = pino({ level: "silent" });

async function scrape(app: { request(path: string): Response | Promise<Response> }) {
  const res = await app.request("/metrics");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
  return await res.text();
}

Deno.test("/metrics counts requests by action and status, with bounded labels", async () => {
  const metrics = new Metrics();
  const { app } = appWithMemorySink(await shippedConfig(), { metrics });
  await app.request("/purchase_a_sword");
  await app.request("/purchase_a_sword");
  await app.request("/purchase_a_sword?sword_type=huge");
  await app.request("/no/such/path/1");
  await app.request("/no/such/path/2");
  await app.request("/healthz");
  const text = await scrape(app);
  const requests = (action: string, status: string) =>
    sample(text, "herald_http_requests_total", { action, status });
  assert.equal(requests("purchase_a_sword", "200"), 2);
  assert.equal(requests("purchase_a_sword", "400"), 1);
  assert.equal(requests("_unmatched", "404"), 2, "unknown paths share one label");
  assert.equal(requests("_ops", "200"), 1);
  assert.equal(text.includes("/no/such/path"), false);
});

Deno.test("/metrics counts events accepted and rejected per sink", async () => {
  const metrics = new Metrics();
  const { app, sink } = appWithMemorySink(await shippedConfig(), { metrics });
  for (let i = 0; i < 3; i++) await app.request("/purchase_a_sword");
  sink.failWith = "disk on fire";
  assert.equal((await app.request("/purchase_a_sword")).status, 503);
  const text = await scrape(app);
  const events = (outcome: string) =>
    sample(text, "herald_sink_events_total", { sink: "memory", outcome });
  assert.equal(events("accepted"), 3);
  assert.equal(events("rejected"), 1);
  assert.equal(sample(text, "herald_sink_up", { sink: "memory" }), 0);
  assert.equal(
    sample(text, "herald_http_requests_total", {
      action: "purchase_a_sword",
      status: "503",
    }),
    1,
  );
});

Deno.test("/metrics observes batch sizes of POST /events", async () => {
  const metrics = new Metrics();
  const { app } = appWithMemorySink(await shippedConfig(), { metrics });
  const batch = (n: number) =>
    app.request("/events", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(Array.from({ length: n }, () => ({ action: "purchase_a_sword" }))),
    });
  assert.equal((await batch(3)).status, 200);
  assert.equal((await batch(40)).status, 200);
  const text = await scrape(app);
  assert.equal(sample(text, "herald_batch_request_events_count"), 2);
  assert.equal(sample(text, "herald_batch_request_events_sum"), 43);
  assert.equal(sample(text, "herald_batch_request_events_bucket", { le: "5" }), 1);
  assert.equal(sample(text, "herald_batch_request_events_bucket", { le: "50" }), 2);
  assert.equal(
    sample(text, "herald_sink_events_total", { sink: "memory", outcome: "accepted" }),
    43,
  );
});

Deno.test("/readyz turns 503 when a sink's queue passes ready_queue_ratio, before it refuses writes", async () => {
  const metrics = new Metrics();
  const config = configFrom(
    "server:\n  ready_queue_ratio: 0.5\nactions:\n  - name: a\n    path: /a\n",
  );
  const { app, sink } = appWithMemorySink(config, { metrics });
  sink.queue = { queued: 49, limit: 100, unit: "events" };
  assert.equal((await app.request("/readyz")).status, 200);
  sink.queue = { queued: 50, limit: 100, unit: "events" };
  const res = await app.request("/readyz");
  assert.equal(res.status, 503);
  const body = await res.json();
  assert.equal(body.status, "unavailable");
  assert.equal(body.sinks.memory.detail, "queue is 50% full (50 of 100 events)");
  assert.deepEqual(body.sinks.memory.queue, { queued: 50, limit: 100, unit: "events" });
  assert.equal((await app.request("/a")).status, 200, "writes still succeed: readiness leads");
  const text = await scrape(app);
  assert.equal(sample(text, "herald_sink_queue_depth", { sink: "memory", unit: "events" }), 50);
  assert.equal(sample(text, "herald_sink_queue_limit", { sink: "memory", unit: "events" }), 100);
});

Deno.test("/metrics reports process memory", async () => {
  const { app } = appWithMemorySink(await shippedConfig(), { metrics: new Metrics() });
  const text = await scrape(app);
  const rss = sample(text, "herald_process_memory_bytes", { kind: "rss" })!;
  assert.ok(rss > 10 * 1024 * 1024 && rss < 4 * 1024 ** 3, `rss ${rss}`);
  assert.ok(sample(text, "herald_process_memory_bytes", { kind: "heap_used" })! > 0);
});

Deno.test("the Parquet sink reports log flushes and files written; DuckDB reads the files", async () => {
  const dir = await Deno.makeTempDir();
  const metrics = new Metrics();
  const config = await shippedConfig();
  const sink = await createParquetSink(
    { ...sinkOptions(config, parquetSink), dir },
    { config, logger: silent, metrics },
  );
  metrics.watchSinks([sink]);
  const event = (i: number) => ({
    event_id: `e${i}`,
    event_type: "purchase_sword",
    action: "purchase_a_sword",
    received_at: "2026-11-30T10:00:00.000Z",
  });
  await Promise.all([0, 1, 2].map((i) => sink.write([event(i)])));
  let text = await metrics.registry.metrics();
  assert.equal(sample(text, "herald_sink_flush_events_sum", { sink: "parquet" }), 3);
  const flushes = sample(text, "herald_sink_flush_events_count", { sink: "parquet" })!;
  assert.ok(flushes >= 1 && flushes <= 3);
  assert.equal(sample(text, "herald_sink_flush_seconds_count", { sink: "parquet" }), flushes);
  assert.ok(
    sample(text, "herald_sink_flush_seconds_sum", { sink: "parquet" })! > 0,
    "fsync took time",
  );
  assert.equal(sample(text, "herald_sink_queue_depth", { sink: "parquet", unit: "events" }), 3);
  await sink.close();
  text = await metrics.registry.metrics();
  assert.equal(sample(text, "herald_sink_files_written_total", { sink: "parquet" }), 1);
  assert.equal(sample(text, "herald_sink_queue_depth", { sink: "parquet", unit: "events" }), 0);
  const lake = await openLake(dir);
  try {
    const { rows } = await lake.run("SELECT count(*) AS n FROM purchases");
    assert.equal(Number(rows[0]![0]), 3);
  } finally {
    lake.close();
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("the stdout sink reports flushes, errors and its queue in bytes", async () => {
  const metrics = new Metrics();
  let fail = false;
  const out = {
    write: (b: Uint8Array) => fail ? Promise.reject(new Error("EPIPE")) : Promise.resolve(b.length),
  };
  const sink = createStdoutSink({ max_pending_bytes: 1 << 20 }, out, metrics);
  metrics.watchSinks([sink]);
  await Promise.all([sink.write([{ a: 1 }, { a: 2 }]), sink.write([{ a: 3 }])]);
  fail = true;
  await assert.rejects(sink.write([{ a: 4 }]));
  const text = await metrics.registry.metrics();
  assert.equal(sample(text, "herald_sink_flush_events_sum", { sink: "stdout" }), 3);
  assert.equal(sample(text, "herald_sink_flush_seconds_count", { sink: "stdout" }), 1);
  assert.equal(sample(text, "herald_sink_errors_total", { sink: "stdout", kind: "write" }), 1);
  assert.equal(sample(text, "herald_sink_queue_limit", { sink: "stdout", unit: "bytes" }), 1 << 20);
  assert.equal(sample(text, "herald_sink_up", { sink: "stdout" }), 0);
});

Deno.test("the Kafka sink counts connection errors against a port where no broker listens", async () => {
  const port = closedPort();
  const metrics = new Metrics();
  const config = await shippedConfig();
  const sink = await createKafkaSink({
    ...sinkOptions(config, kafkaSink),
    brokers: [`127.0.0.1:${port}`],
    timeout_ms: 1000,
  }, { config, logger: silent, metrics });
  metrics.watchSinks([sink]);
  try {
    const text = await metrics.registry.metrics();
    assert.ok(sample(text, "herald_sink_errors_total", { sink: "kafka", kind: "connect" })! >= 1);
    assert.equal(sample(text, "herald_sink_up", { sink: "kafka" }), 0);
    assert.equal(
      sample(text, "herald_sink_queue_limit", { sink: "kafka", unit: "events" }),
      100000,
    );
  } finally {
    await sink.close();
  }
});

Deno.test("over a socket: a blocked stdout fills the queue, /readyz turns 503 before writes do, and recovers", async () => {
  const dir = await Deno.makeTempDir();
  const config = `${dir}/gateway.yaml`;
  const shipped = await Deno.readTextFile("config/gateway.yaml");
  await Deno.writeTextFile(
    config,
    shipped.replace(
      "  ack_timeout_ms: 5000",
      "  ack_timeout_ms: 60000\n  ready_queue_ratio: 0.5",
    ).replace("sinks: [stdout, parquet]", "sinks: [stdout]\nstdout:\n  max_pending_bytes: 200000"),
  );
  // Nobody reads stdout: the pipe fills, then the sink's queue.
  const herald = await startHerald(["--config", config], { readStdout: false });
  const statuses: number[] = [];
  const pending: Promise<unknown>[] = [];
  const send = (n: number) => {
    for (let i = 0; i < n; i++) {
      pending.push(
        fetch(`${herald.url}/join_guild?guild=g${i}`, {
          headers: { "user-agent": "u".repeat(300) },
        }).then(async (res) => {
          await res.body?.cancel();
          statuses.push(res.status);
        }),
      );
    }
  };
  const ready = async () => {
    const res = await fetch(`${herald.url}/readyz`);
    return { status: res.status, body: await res.json() };
  };
  try {
    assert.equal((await ready()).status, 200);
    // 20 more requests a round until the backlog turns /readyz 503.
    const notReady = await waitFor(async () => {
      send(20);
      const r = await ready();
      return r.status === 503 ? r : null;
    }, { what: "/readyz to turn 503", intervalMs: 20, timeoutMs: 60_000 });
    const queue = notReady.body.sinks.stdout.queue;
    assert.ok(queue.queued >= 100000 && queue.queued <= 200000, JSON.stringify(queue));
    assert.match(notReady.body.sinks.stdout.detail, /^queue is \d+% full/);
    assert.deepEqual(statuses.filter((s) => s === 503), [], "no write refused yet");
    const text = await (await fetch(`${herald.url}/metrics`)).text();
    assert.ok(
      sample(text, "herald_sink_queue_depth", { sink: "stdout", unit: "bytes" })! >= 100000,
    );

    herald.readStdout();
    await Promise.all(pending);
    assert.equal((await ready()).status, 200);
    assert.ok(statuses.length > 0 && statuses.every((s) => s === 200), "every write landed");
  } finally {
    await herald.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

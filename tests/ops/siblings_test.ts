import assert from "node:assert/strict";
import pino from "pino";
import { Metrics } from "../../ops/metrics.ts";
import { askSiblings, askWorker, serveControl } from "../../ops/siblings.ts";
import { buildApp, type WorkerReadiness } from "../../routes/mod.ts";
import { FanOut } from "../../sinks/fan_out.ts";
import { MemorySink } from "../../sinks/memory.ts";
import { sample, shippedConfig } from "../_testing.ts";

const silent = pino({ level: "silent" });

/** Worker 0's app over an in-memory sink, with `siblings` as the other workers' readiness. */
async function workerApp(siblings: Map<number, WorkerReadiness>) {
  const config = await shippedConfig();
  const fanOut = new FanOut([new MemorySink()], { timeoutMs: 1000, readyQueueRatio: 0.8 });
  return buildApp(config, fanOut, {
    logger: silent,
    metrics: new Metrics(),
    workers: { index: 0, siblings: () => Promise.resolve(siblings) },
  });
}

Deno.test("/readyz answers 503 when another worker is not ready, naming it", async () => {
  const down = await workerApp(new Map([[1, { ok: false, detail: "worker 1 did not answer" }]]));
  const res = await down.request("/readyz");
  assert.equal(res.status, 503);
  const body = await res.json();
  assert.equal(body.status, "unavailable");
  assert.equal(body.worker, 0);
  assert.deepEqual(body.workers["1"], { ok: false, detail: "worker 1 did not answer" });
  assert.equal(body.workers["0"].ok, true);

  const up = await workerApp(new Map([[1, { ok: true, sinks: {} }]]));
  assert.equal((await up.request("/readyz")).status, 200);
  assert.deepEqual(await (await up.request("/healthz")).json(), { status: "ok", worker: 0 });
});

Deno.test("Metrics.scrape() sums the other workers' metrics, and sink_up takes the lowest", async () => {
  const [scraped, sibling] = [new Metrics(), new Metrics()];
  scraped.requests.add("buy", 200, 3);
  sibling.requests.add("buy", 200, 4);
  sibling.requests.add("buy", 503, 1);
  scraped.flushed("parquet", 10, 0.002);
  sibling.flushed("parquet", 5, 0.002);
  const up = new MemorySink("parquet");
  const down = new MemorySink("parquet");
  down.failWith = "disk full";
  scraped.watchSinks([up]);
  sibling.watchSinks([down]);
  scraped.gatherFrom(3, async () => [await sibling.own()]);

  const { body } = await scraped.scrape();
  assert.equal(sample(body, "herald_http_requests_total", { action: "buy", status: "200" }), 7);
  assert.equal(sample(body, "herald_http_requests_total", { action: "buy", status: "503" }), 1);
  assert.equal(sample(body, "herald_sink_flush_events_sum", { sink: "parquet" }), 15);
  assert.equal(sample(body, "herald_sink_flush_events_count", { sink: "parquet" }), 2);
  assert.equal(sample(body, "herald_sink_up", { sink: "parquet" }), 0);
  assert.equal(sample(body, "herald_workers", { state: "configured" }), 3);
  assert.equal(sample(body, "herald_workers", { state: "answering" }), 2);
});

Deno.test("serveControl() answers its worker's status, metrics and health on a unix socket", async () => {
  const dir = await Deno.makeTempDir();
  const metrics = new Metrics();
  metrics.requests.add("buy", 200, 2);
  const worker = { index: 1, count: 3, dir };
  // A socket file left by a killed worker does not stop the next one.
  await Deno.writeTextFile(`${dir}/w1.sock`, "");
  const server = await serveControl(worker, {
    port: 5123,
    metrics: () => metrics.own(),
    health: () => Promise.resolve({ ok: true, sinks: {} }),
  });
  try {
    assert.deepEqual(await askWorker(dir, 1, "/status"), { index: 1, port: 5123, pid: Deno.pid });
    assert.deepEqual(await askWorker(dir, 1, "/readyz"), { ok: true, sinks: {} });
    const own = await askWorker<{ name: string }[]>(dir, 1, "/metrics");
    assert.ok(own.some((m) => m.name === "herald_http_requests_total"));
    // Seen from worker 0: worker 2 has no socket, so it did not answer.
    const answers = await askSiblings(
      { index: 0, count: 3, dir },
      "/readyz",
    );
    assert.deepEqual(answers.get(1), { value: { ok: true, sinks: {} } });
    assert.ok(answers.has(2) && "error" in answers.get(2)!);
  } finally {
    await server.shutdown();
  }
});

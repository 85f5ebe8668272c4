import assert from "node:assert/strict";
import { startKafka } from "../../../tools/kafka/mod.ts";
import {
  assertQueueFull,
  assertRefused,
  configFile,
  consumeAll,
  http,
  kafkaUnavailable,
  readyz,
  startHerald,
  waitFor,
} from "../../_testing.ts";

const unavailable = await kafkaUnavailable("Kafka integration tests");

/** Events the sink may hold for Kafka in this test. */
const LIMIT = 3;

Deno.test({
  name: "Kafka queue full: 503 + Retry-After past max_pending_events, not ready, writes resume",
  ignore: unavailable !== null,
  async fn() {
    const broker = await startKafka();
    try {
      const topic = `overload-${crypto.randomUUID()}`;
      const file = await configFile({
        // Acks are due long after linger_ms, so held events still succeed once sent.
        server: { ack_timeout_ms: 60_000 },
        // linger_ms holds every event pending until its timer fires.
        kafka: { topic, max_pending_events: LIMIT, linger_ms: 10_000 },
      });
      const herald = await startHerald(["--sinks", "kafka", "--config", file], {
        env: { KAFKA_BROKERS: broker.brokers },
      });
      try {
        await waitFor(async () => (await readyz(herald)).status === 200, {
          what: "/readyz to answer 200",
        });

        // Fill the queue: LIMIT requests, each waiting for the linger timer.
        const held = Array.from({ length: LIMIT }, () => http(`${herald.url}/purchase_a_sword`));
        const notReady = await waitFor(async () => {
          const answer = await readyz(herald);
          return answer.status === 503 ? answer : null;
        }, { what: "/readyz to report the full queue" });
        assertQueueFull(notReady, "kafka", LIMIT);

        // One event past the limit, as a GET and as a batch.
        const refused = await http(`${herald.url}/purchase_a_sword`);
        assertRefused(refused, /Kafka queue is full/);
        const batch = await fetch(`${herald.url}/events`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify([{ action: "purchase_a_sword" }]),
        });
        const batchBody = await batch.text();
        assert.equal(batch.status, 503, batchBody);
        assert.ok(batch.headers.get("retry-after") !== null, "the batch 503 carries Retry-After");
        assert.equal((await readyz(herald)).status, 503, "still not ready while the queue is full");

        // The linger timer sends the held events: they succeed, and the queue drains.
        const acked = await Promise.all(held);
        assert.deepEqual(acked.map((a) => a.status), Array(LIMIT).fill(200));
        await waitFor(async () => {
          return (await readyz(herald)).status === 200;
        }, { what: "/readyz to answer 200 again" });
        const after = await http(`${herald.url}/purchase_a_sword`);
        assert.equal(after.status, 200, after.text);

        assert.equal((await herald.stop()).code, 0, herald.stderr());
        const records = await consumeAll(broker.brokers, [topic]);
        const written = records.map((r) => r.value.request_id).sort();
        assert.deepEqual(
          written,
          [...acked, after].map((a) => a.headers.get("x-request-id")).sort(),
          "exactly the acknowledged events are in the topic, each once",
        );
        assert.ok(
          !written.includes(refused.headers.get("x-request-id")),
          "the refused event was not written",
        );
      } finally {
        await herald.stop();
      }
    } finally {
      await broker.stop();
      await Deno.remove(broker.dir, { recursive: true });
    }
  },
});

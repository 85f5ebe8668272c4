import assert from "node:assert/strict";
import { startKafka } from "../../tools/kafka/mod.ts";
import {
  configFile,
  consumeAll,
  http,
  kafkaUnavailable,
  logged,
  startHerald,
  waitFor,
} from "../_testing.ts";

const unavailable = await kafkaUnavailable("Kafka tests of --workers");

Deno.test({
  name: "serve --workers 2 --sinks kafka: each worker produces, every 2xx event is one record",
  ignore: unavailable !== null,
  async fn() {
    const broker = await startKafka();
    try {
      const topic = `events-${crypto.randomUUID()}`;
      const config = await configFile({ kafka: { topic } });
      const herald = await startHerald(["--workers", "2", "--sinks", "kafka", "--config", config], {
        env: { KAFKA_BROKERS: broker.brokers },
      });
      const acked: string[] = [];
      try {
        await logged(herald, "every worker listening");
        // Ready means both workers' producers reached the broker.
        await waitFor(async () => (await http(`${herald.url}/readyz`)).status === 200, {
          what: "every worker's Kafka sink to be ready",
          detail: herald.stderr,
        });
        const answered = new Set<number>();
        for (let i = 0; i < 100 || answered.size < 2; i++) {
          const init = { headers: { connection: "close" } };
          const res = await http(`${herald.url}/purchase_a_sword`, init);
          assert.equal(res.status, 200, res.text);
          acked.push(res.headers.get("x-request-id")!);
          answered.add(JSON.parse((await http(`${herald.url}/healthz`, init)).text).worker);
          assert.ok(i < 1000, "both workers answered");
        }
      } finally {
        const status = await herald.stop();
        assert.equal(status.code, 0, herald.stderr());
      }
      const records = await consumeAll(broker.brokers, [topic]);
      const ids = records.map((r) => String(r.value.request_id));
      assert.deepEqual(ids.toSorted(), acked.toSorted(), "every acked event once, nothing else");
    } finally {
      await broker.stop();
    }
  },
});

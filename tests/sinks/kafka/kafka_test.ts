import { sinkOptions } from "../../../sinks/contract.ts";
import assert from "node:assert/strict";
import pino from "pino";
import { parse, stringify } from "yaml";
import { startKafka } from "../../../tools/kafka/mod.ts";
import { createKafkaSink, KAFKA_COMPRESSIONS, kafkaSink } from "../../../sinks/kafka/mod.ts";
import {
  closedPort,
  configFile,
  consumeAll,
  hasCommand,
  type HeraldProcess,
  http,
  kafkaUnavailable,
  logged,
  sample,
  shippedConfig,
  sleep,
  startHerald,
  waitFor,
} from "../../_testing.ts";

const unavailable = await kafkaUnavailable("Kafka integration tests");

/** A config file: the shipped one with `kafka` merged into its `kafka:` section. */
function configWith(kafka: Record<string, unknown>): Promise<string> {
  return configFile({ kafka });
}

/** Herald with only the Kafka sink and `kafka` merged into its config, once /readyz says ready. */
async function startKafkaHerald(
  kafka: Record<string, unknown>,
  env: Record<string, string>,
): Promise<HeraldProcess> {
  const herald = await startHerald(["--sinks", "kafka", "--config", await configWith(kafka)], {
    env,
  });
  await waitReady(herald);
  return herald;
}

function waitReady(herald: HeraldProcess, timeoutMs = 30_000): Promise<boolean> {
  return waitFor(async () => (await http(`${herald.url}/readyz`)).status === 200, {
    what: "Herald to be ready",
    timeoutMs,
    detail: herald.stderr,
  });
}

/** One request's answer, as the steps compare them. */
interface Got {
  status: number;
  id: string | null;
  retryAfter: string | null;
  text: string;
}

async function get(url: string): Promise<Got> {
  const { status, headers, text } = await http(url);
  return { status, id: headers.get("x-request-id"), retryAfter: headers.get("retry-after"), text };
}

Deno.test({
  name: "Kafka sink against a real broker",
  ignore: unavailable !== null,
  async fn(t) {
    const broker = await startKafka();
    const brokers = broker.brokers;
    const env = { KAFKA_BROKERS: brokers };
    let current = broker;
    try {
      await t.step(
        "N HTTP events become exactly N records with keys, headers and JSON, in few Produce requests",
        async () => {
          const topic = `events-${crypto.randomUUID()}`;
          const herald = await startKafkaHerald({ topic }, env);
          const n = 1000;
          const paths = ["/purchase_a_sword", "/join_guild", "/declare_peace", "/"];
          const results: Got[] = [];
          for (let i = 0; i < n; i += 50) {
            const batch = Array.from(
              { length: 50 },
              (_, j) => get(`${herald.url}${paths[(i + j) % paths.length]}`),
            );
            results.push(...await Promise.all(batch));
          }
          assert.ok(
            results.every((r) => r.status === 200),
            JSON.stringify(results.find((r) => r.status !== 200)),
          );
          assert.equal((await herald.stop()).code, 0, herald.stderr());
          const records = await consumeAll(brokers, [topic]);
          assert.equal(records.length, n);
          const ids = new Set(records.map((r) => r.value.request_id));
          for (const r of results) assert.ok(ids.has(r.id), `record for request ${r.id}`);
          for (const r of records) {
            assert.equal(r.key, r.value.host, "the key is the host");
            assert.equal(r.headers.event_type, r.value.event_type);
            assert.match(String(r.value.event_id), /^[0-9a-f-]{36}$/);
          }
          const closed = herald.stderr().split("\n").find((l) => l.includes("kafka sink closed"));
          const stats = JSON.parse(closed!);
          assert.equal(stats.events, n);
          assert.ok(
            stats.produceRequests < n / 4,
            `batched: ${stats.produceRequests} Produce requests for ${n} events`,
          );
          console.error(
            `${n} events over 50 concurrent clients: ${stats.produceRequests} Produce requests`,
          );
        },
      );

      await t.step(
        "a {event_type} topic template routes each event type to its own topic",
        async () => {
          const prefix = `game-${crypto.randomUUID().slice(0, 8)}`;
          const herald = await startKafkaHerald({ topic: `${prefix}.{event_type}` }, env);
          for (const path of ["/purchase_a_sword", "/purchase_a_sword", "/declare_a_war"]) {
            assert.equal((await get(herald.url + path)).status, 200);
          }
          await herald.stop();
          const swords = await consumeAll(brokers, [`${prefix}.purchase_sword`]);
          const wars = await consumeAll(brokers, [`${prefix}.declare_war`]);
          assert.deepEqual(swords.map((r) => r.value.event_type), [
            "purchase_sword",
            "purchase_sword",
          ]);
          assert.deepEqual(wars.map((r) => r.value.event_type), ["declare_war"]);
        },
      );

      await t.step("close() flushes a pending batch before it returns", async () => {
        const topic = `close-${crypto.randomUUID()}`;
        const config = await shippedConfig();
        const opts = {
          ...sinkOptions(config, kafkaSink),
          brokers: [brokers],
          topic,
          linger_ms: 60_000,
        };
        const sink = await createKafkaSink(opts, { config, logger: pino({ level: "silent" }) });
        assert.deepEqual(await sink.health(), { ok: true }, "ready once created, as Kafka is up");
        let acked = false;
        const write = sink.write([{
          event_id: "a",
          event_type: "x",
          host: "h",
          received_at: new Date().toISOString(),
        }])
          .then(() => (acked = true));
        // Kept: this proves that nothing happens (no ack before linger_ms = 60 s), and
        // only a pause can show an absence; a busy machine can only make it pass more surely.
        await sleep(200);
        assert.equal(acked, false, "the event waits for linger_ms");
        await sink.close();
        await write;
        assert.equal(acked, true);
        assert.equal((await consumeAll(brokers, [topic])).length, 1);
      });

      await t.step(
        "every compression codec writes records a reader decodes, on 3 partitions",
        async () => {
          const config = await shippedConfig();
          for (const compression of KAFKA_COMPRESSIONS) {
            const topic = `codec-${compression}-${crypto.randomUUID().slice(0, 8)}`;
            const sink = await createKafkaSink({
              ...sinkOptions(config, kafkaSink),
              brokers: [brokers],
              topic,
              compression,
            }, { config, logger: pino({ level: "silent" }) });
            const events = Array.from({ length: 30 }, (_, i) => ({
              event_id: `${compression}-${i}`,
              event_type: "x",
              host: `user${i % 7}.example`,
              received_at: new Date().toISOString(),
              note: "a repeated value that compresses ".repeat(4),
            }));
            try {
              await sink.write(events);
            } finally {
              await sink.close();
            }
            const records = await consumeAll(brokers, [topic]);
            assert.deepEqual(
              records.map((r) => r.value.event_id).sort(),
              events.map((e) => e.event_id).sort(),
              `${compression}: every event once`,
            );
            for (const r of records) assert.equal(r.key, String(r.value.host));
          }
        },
      );

      await t.step("credential headers and CR/LF never reach a Kafka record", async () => {
        const topic = `secrets-${crypto.randomUUID()}`;
        const herald = await startKafkaHerald({ topic, key: "user_agent" }, env);
        const canary = `CANARY-${crypto.randomUUID()}`;
        const res = await fetch(`${herald.url}/join_guild`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${canary}`,
            cookie: `s=${canary}`,
            "proxy-authorization": `Basic ${canary}`,
            "x-api-key": canary,
            "x-write-key": canary,
            "user-agent": "game/1.0",
            "content-type": "application/json",
          },
          body: JSON.stringify({ guild: 'line1\r\n{"forged":true}' }),
        });
        assert.equal(res.status, 200);
        await res.body?.cancel();
        await herald.stop();
        const records = await consumeAll(brokers, [topic]);
        assert.equal(records.length, 1, "one request, one record: CR/LF forged nothing");
        assert.equal(records[0]!.value.guild, 'line1\r\n{"forged":true}');
        assert.ok(
          !JSON.stringify(records).includes(canary),
          "no credential in value, key or headers",
        );
        assert.ok(!herald.stderr().includes(canary), "nor in Herald's log");
      });

      await t.step({
        name: "kcat reads what Herald wrote",
        ignore: Deno.env.get("CI") !== "true" && !(await hasCommand("kcat", ["-V"])),
        fn: async () => {
          const topic = `kcat-${crypto.randomUUID()}`;
          const herald = await startKafkaHerald({ topic }, env);
          assert.equal((await get(`${herald.url}/purchase_an_axe`)).status, 200);
          await herald.stop();
          const out = await new Deno.Command("kcat", {
            args: ["-C", "-b", brokers, "-t", topic, "-o", "beginning", "-e", "-q"],
          })
            .output();
          assert.ok(out.success, new TextDecoder().decode(out.stderr));
          const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
          assert.equal(lines.length, 1);
          assert.equal(JSON.parse(lines[0]!).event_type, "purchase_axe");
        },
      });

      await t.step(
        "broker SIGKILL mid-load: 503s while down, recovery without restart, every 2xx in the topic",
        async () => {
          const topic = `crash-${crypto.randomUUID()}`;
          const herald = await startKafkaHerald({ topic, timeout_ms: 2000 }, env);
          const results: Got[] = [];
          let running = true;
          const workers = Array.from({ length: 8 }, async () => {
            while (running) {
              results.push(
                await get(`${herald.url}/purchase_a_shield`).catch(() => ({
                  status: 0,
                  id: null,
                  retryAfter: null,
                  text: "",
                })),
              );
            }
          });
          const okSince = (from: number) =>
            results.slice(from).filter((r) => r.status === 200).length;
          await waitFor(() => okSince(0) >= 50, {
            what: "50 events acknowledged before the crash",
          });
          const atKill = results.length;
          await current.kill("SIGKILL");
          await waitFor(() => results.slice(atKill).some((r) => r.status === 503), {
            what: "a 503 while Kafka is down",
            timeoutMs: 60_000,
          });
          const duringOutage = results.length;
          current = await startKafka({
            dir: broker.dir,
            port: broker.port,
            controllerPort: broker.controllerPort,
          });
          await waitReady(herald, 60_000);
          const atReady = results.length;
          await waitFor(() => okSince(atReady) >= 50, {
            what: "50 events acknowledged after the restart",
            timeoutMs: 60_000,
          });
          running = false;
          await Promise.all(workers);
          const metrics = await (await fetch(`${herald.url}/metrics`)).text();
          await herald.stop();

          const ok = results.filter((r) => r.status === 200);
          const unavailable = results.filter((r) => r.status === 503);
          assert.ok(unavailable.length > 0, "clients were told while Kafka was down");
          assert.equal(
            sample(metrics, "herald_sink_events_total", { sink: "kafka", outcome: "accepted" }),
            ok.length,
            "the accepted counter matches the 2xx",
          );
          assert.ok(
            sample(metrics, "herald_sink_events_total", { sink: "kafka", outcome: "rejected" })! >=
              1,
          );
          assert.ok(
            sample(metrics, "herald_sink_errors_total", { sink: "kafka", kind: "connect" })! >= 1,
          );
          assert.ok(
            sample(metrics, "herald_sink_flush_seconds_count", { sink: "kafka" })! >= 1,
            "Produce round trips are timed",
          );
          assert.ok(
            unavailable.every((r) => r.retryAfter !== null),
            "every 503 carries Retry-After",
          );
          assert.ok(
            results.slice(duringOutage).some((r) => r.status === 200),
            "Herald recovered without restart",
          );
          assert.deepEqual(
            results.filter((r) => r.status !== 200 && r.status !== 503),
            [],
            "only 200 or 503",
          );
          const records = await consumeAll(brokers, [topic]);
          const found = new Set(records.map((r) => r.value.request_id));
          const missing = ok.filter((r) => !found.has(r.id));
          assert.deepEqual(
            missing,
            [],
            `${missing.length} acknowledged events missing of ${ok.length}`,
          );
          console.error(
            `crash drill: ${results.length} requests, ${ok.length} 2xx, ${unavailable.length} 503, ` +
              `${records.length} records, ${records.length - found.size} duplicates`,
          );
        },
      );

      await t.step(
        "a config reload creates the topic of a new event type, no restart",
        async () => {
          const prefix = `reload-${crypto.randomUUID()}`;
          const file = await configWith({ topic: `${prefix}-{event_type}` });
          const herald = await startHerald(["--sinks", "kafka", "--config", file], { env });
          try {
            await waitReady(herald);
            assert.equal((await get(`${herald.url}/smith_a_hammer`)).status, 404);
            const doc = parse(await Deno.readTextFile(file));
            doc.actions.push({ name: "smith_a_hammer", event_type: "smith_hammer" });
            await Deno.writeTextFile(file, stringify(doc));
            herald.child.kill("SIGHUP");
            await logged(herald, "config reloaded");
            assert.match(herald.stderr(), /"added":\["smith_a_hammer"\]/);
            const hammer = await get(`${herald.url}/smith_a_hammer`);
            assert.equal(hammer.status, 200, hammer.text);
          } finally {
            await herald.stop();
          }
          const records = await consumeAll(brokers, [`${prefix}-smith_hammer`]);
          assert.equal(records.length, 1);
          assert.equal(records[0]!.value.action, "smith_a_hammer");
        },
      );
    } finally {
      await current.stop();
      await Deno.remove(broker.dir, { recursive: true });
    }
  },
});

Deno.test("Herald with an unreachable broker starts, is not ready, and answers 503 + Retry-After", async () => {
  const port = closedPort();
  const herald = await startHerald(
    ["--sinks", "kafka", "--config", await configWith({ timeout_ms: 1000 })],
    { env: { KAFKA_BROKERS: `127.0.0.1:${port}` } },
  );
  try {
    const ready = await fetch(`${herald.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal((await ready.json()).sinks.kafka.ok, false);
    const res = await get(`${herald.url}/purchase_a_sword`);
    assert.equal(res.status, 503);
    assert.equal(res.retryAfter, "1");
    // Refused at once because Kafka is down, not after waiting out a timeout.
    assert.match(JSON.parse(res.text).message, /Kafka is unavailable/, res.text);
    assert.doesNotMatch(res.text, /did not confirm within/);
  } finally {
    assert.equal((await herald.stop()).code, 0, herald.stderr());
  }
  assert.equal(herald.stdout(), "", "nothing was written");
});

import assert from "node:assert/strict";
import { parse } from "yaml";

// No Docker engine runs in CI, so this checks what the compose file wires together.
const compose = parse(await Deno.readTextFile("docker-compose.yml"));

Deno.test("docker-compose.yml runs a KRaft Kafka from the official image", () => {
  const kafka = compose.services.kafka;
  assert.match(kafka.image, /^apache\/kafka:4\.\d+\.\d+$/);
  assert.equal(kafka.environment.KAFKA_PROCESS_ROLES, "broker,controller");
  assert.ok(kafka.ports.includes("9092:9092"), "the host reaches the broker for kcat");
  assert.match(kafka.environment.KAFKA_ADVERTISED_LISTENERS, /EXTERNAL:\/\/localhost:9092/);
  assert.ok(kafka.healthcheck.test.length > 1);
});

Deno.test("docker-compose.yml wires Herald to that broker with KAFKA_BROKERS", () => {
  const herald = compose.services.herald;
  const brokers: string = herald.environment.KAFKA_BROKERS;
  const internal = compose.services.kafka.environment.KAFKA_ADVERTISED_LISTENERS
    .split(",").map((l: string) => l.replace(/^\w+:\/\//, ""));
  assert.ok(internal.includes(brokers), `${brokers} is an advertised listener`);
  assert.deepEqual(herald.environment.HERALD_SINKS.split(","), ["stdout", "kafka"]);
  assert.deepEqual(herald.command, ["task", "serve"]);
  assert.ok(herald.ports.includes("5000:5000"));
  assert.equal(herald.depends_on.kafka.condition, "service_healthy");
  assert.match(herald.healthcheck.test.join(" "), /fetch\('http:\/\/127\.0\.0\.1:5000\/readyz'\)/);
  const denoVersion = ciDenoVersion();
  assert.equal(herald.image, `denoland/deno:${denoVersion}`, "the same Deno as CI");
});

Deno.test("docker-compose.yml runs the lander as the lake's only writer", () => {
  const { herald, lander } = compose.services;
  assert.deepEqual(lander.command, ["task", "land"]);
  assert.equal(lander.environment.KAFKA_BROKERS, herald.environment.KAFKA_BROKERS);
  assert.equal(lander.environment.HERALD_LAKE, "/app/lake");
  assert.ok(!herald.environment.HERALD_SINKS.split(",").includes("parquet"), "one writer per lake");
  assert.equal(lander.image, herald.image);
  assert.equal(lander.depends_on.herald.condition, "service_healthy", "topics exist by then");
});

function ciDenoVersion(): string {
  const ci = Deno.readTextFileSync(".ci/run");
  return ci.match(/DENO_VERSION=(\S+)/)![1]!;
}

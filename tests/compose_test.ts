import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { parse } from "yaml";

// No Docker engine runs in CI, so this checks what the compose file wires together.
const compose = parse(await Deno.readTextFile("docker-compose.yml"));

interface Service {
  image: string;
  command?: string[];
  environment?: Record<string, string>;
}

const services = Object.entries(compose.services as Record<string, Service>);
const heralds = services.filter(([, s]) => s.command?.join(" ") === "task serve");
const landers = services.filter(([, s]) => s.command?.join(" ") === "task land");

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

Deno.test("docker-compose.yml sets only environment variables that Herald reads", () => {
  const files = [
    "main.ts",
    ...["config", "lander", "ops", "routes", "sinks"].flatMap((dir) =>
      readdirSync(dir, { recursive: true, encoding: "utf8" }).map((file) => `${dir}/${file}`)
    ),
  ].filter((file) => file.endsWith(".ts"));
  // `Deno.env.get("NAME")`, and `env("NAME")` where the environment is injected.
  const read = new Set(
    files.flatMap((file) =>
      [...Deno.readTextFileSync(file).matchAll(/\benv(?:\.get)?\(\s*"([A-Z][A-Z0-9_]*)"\s*\)/g)]
        .map((m) => m[1]!)
    ),
  );
  for (const known of ["KAFKA_BROKERS", "HERALD_WORKERS", "HERALD_LANDER_GROUP"]) {
    assert.ok(read.has(known), `the scan finds ${known}`);
  }
  for (const [name, s] of [...heralds, ...landers]) {
    for (const variable of Object.keys(env(s))) {
      assert.ok(read.has(variable), `${name}: Herald reads no ${variable}`);
    }
  }
});

Deno.test("docker-compose.yml pins every image", () => {
  for (const [name, s] of services) {
    assert.match(s.image, /^[a-z0-9./-]+:\d+\.\d+\.\d+(-[a-z0-9.]+)?$/, `${name}: a pinned tag`);
  }
});

function env(service: Service): Record<string, string | undefined> {
  return service.environment ?? {};
}

function ciDenoVersion(): string {
  const ci = Deno.readTextFileSync(".ci/run");
  return ci.match(/DENO_VERSION=(\S+)/)![1]!;
}

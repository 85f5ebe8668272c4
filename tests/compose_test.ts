import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { parse } from "yaml";
import { topicReplication } from "../sinks/kafka/routing.ts";
import { clusterProperties, DEFAULT_KAFKA_VERSION } from "../tools/kafka/mod.ts";

// No Docker engine runs in CI, so this checks what the compose file wires together. Compose
// resolves anchors and `<<` merge keys, and so does this parse.
const compose = parse(await Deno.readTextFile("docker-compose.yml"), { merge: true });

interface Service {
  image: string;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}

const services = Object.entries(compose.services as Record<string, Service>);
const kafkas = services.filter(([, s]) => s.image.startsWith("apache/kafka:"));
const heralds = services.filter(([, s]) => s.command?.join(" ") === "task serve");
const landers = services.filter(([, s]) => s.command?.join(" ") === "task land");
const proxies = services.filter(([, s]) => s.image.startsWith("haproxy:"));

Deno.test("docker-compose.yml runs 3 KRaft nodes of one quorum from the official image", () => {
  assert.equal(kafkas.length, 3);
  const voters = new Set(kafkas.map(([, s]) => env(s).KAFKA_CONTROLLER_QUORUM_VOTERS));
  assert.equal(voters.size, 1, "one voter list");
  const expected = kafkas.map(([name, s]) => {
    const port = listeners(env(s).KAFKA_LISTENERS).get(env(s).KAFKA_CONTROLLER_LISTENER_NAMES!);
    return `${env(s).KAFKA_NODE_ID}@${name}${port}`;
  });
  assert.deepEqual([...voters][0]!.split(",").sort(), expected.sort(), "every node votes");
  assert.equal(new Set(kafkas.map(([, s]) => env(s).KAFKA_NODE_ID)).size, 3, "distinct node ids");
  assert.equal(new Set(kafkas.map(([, s]) => env(s).CLUSTER_ID)).size, 1, "one cluster id");
  assert.match(env(kafkas[0]![1]).CLUSTER_ID!, /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
  const dataVolumes = kafkas.map(([, s]) => {
    assert.equal(s.image, `apache/kafka:${DEFAULT_KAFKA_VERSION}`, "the Kafka of deno task kafka");
    assert.equal(env(s).KAFKA_PROCESS_ROLES, "broker,controller");
    assert.ok(s.healthcheck!.test.length > 1);
    const mount = s.volumes?.find((v) => v.endsWith(`:${env(s).KAFKA_LOG_DIRS}`));
    assert.ok(mount, "the log dirs are on a volume");
    return mount.split(":")[0]!;
  });
  assert.equal(new Set(dataVolumes).size, 3, "a volume per node");
  for (const volume of dataVolumes) assert.ok(volume in compose.volumes, `${volume} is named`);
});

Deno.test("docker-compose.yml's cluster replicates as Herald's topics and tools expect", () => {
  const { replicas, minInsync } = topicReplication({}, kafkas.length);
  assert.deepEqual({ replicas, minInsync }, { replicas: 3, minInsync: 2 });
  for (const [name, s] of kafkas) {
    assert.equal(env(s).KAFKA_DEFAULT_REPLICATION_FACTOR, String(replicas), name);
    assert.equal(env(s).KAFKA_MIN_INSYNC_REPLICAS, String(minInsync), name);
    // The image turns KAFKA_A_B into the property a.b.
    for (const [key, value] of Object.entries(clusterProperties(kafkas.length))) {
      const variable = `KAFKA_${key.toUpperCase().replaceAll(".", "_")}`;
      assert.equal(env(s)[variable], String(value), `${name}: ${variable}, as tools/kafka`);
    }
  }
});

Deno.test("docker-compose.yml's brokers advertise one address to containers, one to the host", () => {
  const hostPorts = kafkas.map(([name, s]) => {
    const advertised = listeners(env(s).KAFKA_ADVERTISED_LISTENERS);
    assert.match(
      advertised.get(env(s).KAFKA_INTER_BROKER_LISTENER_NAME!)!,
      new RegExp(`^${name}:`),
    );
    const external = advertised.get("EXTERNAL")!;
    assert.match(external, /^localhost:\d+$/);
    const port = external.split(":")[1]!;
    assert.equal(listeners(env(s).KAFKA_LISTENERS).get("EXTERNAL"), `:${port}`);
    assert.deepEqual(s.ports, [`127.0.0.1:${port}:${port}`]);
    return port;
  });
  assert.equal(new Set(hostPorts).size, 3);
  assert.ok(hostPorts.includes("9092"), "kcat -b localhost:9092, as the comments at the top say");
});

Deno.test("docker-compose.yml runs 2 Herald replicas on every broker", () => {
  assert.equal(heralds.length, 2);
  for (const [name, s] of heralds) {
    assert.deepEqual(brokersOf(s), internalBrokers(), `${name} names every broker`);
    assert.deepEqual(env(s).HERALD_SINKS!.split(","), ["stdout", "kafka"]);
    assert.equal(env(s).HERALD_WORKERS, "auto");
    assert.match(
      s.healthcheck!.test.join(" "),
      new RegExp(`fetch\\('http://127\\.0\\.0\\.1:${env(s).PORT}/readyz'\\)`),
    );
    assertWaitsFor(s, kafkas);
    assert.equal(s.image, `denoland/deno:${ciDenoVersion()}`, "the same Deno as CI");
  }
});

Deno.test("docker-compose.yml runs 2 landers of one group as the only writers of one lake", () => {
  assert.equal(landers.length, 2);
  const group = new Set(landers.map(([, s]) => env(s).HERALD_LANDER_GROUP));
  assert.equal(group.size, 1, "one consumer group");
  assert.ok([...group][0]);
  const ids = new Set(landers.map(([, s]) => env(s).HERALD_LANDER_INSTANCE_ID));
  assert.equal(ids.size, 2, "each lander its own static member id");
  const lakes = new Set(landers.map(([, s]) => {
    assert.deepEqual(brokersOf(s), internalBrokers());
    assert.equal(s.image, heralds[0]![1].image);
    assertWaitsFor(s, [...kafkas, ...heralds]); // Herald creates the topics before it is ready
    const lake = env(s).HERALD_LAKE;
    return s.volumes?.find((v) => v.endsWith(`:${lake}`));
  }));
  assert.equal(lakes.size, 1, "one lake volume");
  assert.ok([...lakes][0], "the lake is a volume");
  for (const [name, s] of heralds) {
    assert.ok(!env(s).HERALD_SINKS!.split(",").includes("parquet"), `${name} writes no lake`);
  }
});

Deno.test("docker-compose.yml balances the Herald replicas by their /readyz", async () => {
  assert.equal(proxies.length, 1);
  const [, proxy] = proxies[0]!;
  assert.ok(proxy.ports!.includes("127.0.0.1:5000:5000"), "curl localhost:5000 reaches the proxy");
  assertWaitsFor(proxy, heralds);
  const mount = proxy.volumes!.find((v) => v.includes(":/usr/local/etc/haproxy/haproxy.cfg"));
  assert.ok(mount, "the config is mounted where the image reads it");
  const cfg = haproxySections(await Deno.readTextFile(mount.split(":")[0]!));

  const frontend = [...cfg].find(([head, lines]) =>
    head.startsWith("frontend ") && has(lines, "bind :5000")
  );
  assert.ok(frontend, "a frontend on :5000");
  const backendName = frontend[1].find((l) => l[0] === "default_backend")?.[1];
  const backend = cfg.get(`backend ${backendName}`);
  assert.ok(backend, `backend "${backendName}"`);
  assert.ok(has(backend, "option httpchk"), "HTTP health checks");
  assert.ok(has(backend, "http-check send meth GET uri /readyz"), "checks GET /readyz");
  assert.ok(has(backend, "http-check expect status 200"), "ready means 200");
  const servers = backend.filter((l) => l[0] === "server");
  for (const server of servers) assert.ok(server.includes("check"), server.join(" "));
  assert.deepEqual(
    servers.map((l) => l[2]).sort(),
    heralds.map(([name, s]) => `${name}:${env(s).PORT}`).sort(),
    "both replicas are backends",
  );

  const status = [...cfg.values()].find((lines) => lines.some((l) => l[0] === "monitor-uri"))!;
  const port = status.find((l) => l[0] === "bind")![1]!;
  const uri = status.find((l) => l[0] === "monitor-uri")![1]!;
  assert.ok(proxy.healthcheck!.test.join(" ").includes(`127.0.0.1${port}${uri}`));
  assert.ok(has(status, `monitor fail if { nbsrv(${backendName}) lt 1 }`));
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

Deno.test("docker-compose.yml pins every image and publishes ports on 127.0.0.1 only", () => {
  for (const [name, s] of services) {
    assert.match(s.image, /^[a-z0-9./-]+:\d+\.\d+\.\d+(-[a-z0-9.]+)?$/, `${name}: a pinned tag`);
    for (const port of s.ports ?? []) assert.match(port, /^127\.0\.0\.1:\d+:\d+$/, name);
  }
});

function env(service: Service): Record<string, string | undefined> {
  return service.environment ?? {};
}

/** `NAME://host:port,...` as NAME -> `host:port` (host may be empty). */
function listeners(value: string | undefined): Map<string, string> {
  return new Map(
    (value ?? "").split(",").map((l) => {
      const [name, address] = l.split("://");
      return [name!, address!];
    }),
  );
}

/** Where containers reach each broker: its inter-broker advertised listener. */
function internalBrokers(): string[] {
  return kafkas.map(([, s]) =>
    listeners(env(s).KAFKA_ADVERTISED_LISTENERS).get(env(s).KAFKA_INTER_BROKER_LISTENER_NAME!)!
  ).sort();
}

function brokersOf(service: Service): string[] {
  return (env(service).KAFKA_BROKERS ?? "").split(",").sort();
}

function assertWaitsFor(service: Service, others: [string, Service][]): void {
  for (const [name] of others) {
    assert.equal(service.depends_on?.[name]?.condition, "service_healthy", `waits for ${name}`);
  }
}

const SECTIONS = new Set(["global", "defaults", "frontend", "backend", "listen", "resolvers"]);

/** HAProxy's config as `"<section> <name>"` -> its lines, each split into words. */
function haproxySections(text: string): Map<string, string[][]> {
  const sections = new Map<string, string[][]>();
  let current: string[][] | undefined;
  for (const line of text.split("\n")) {
    const words = line.replace(/#.*/, "").trim().split(/\s+/).filter(Boolean);
    if (words.length === 0) continue;
    if (SECTIONS.has(words[0]!)) {
      current = [];
      sections.set(words.join(" "), current);
    } else {
      assert.ok(current, `"${line}" is in a section`);
      current.push(words);
    }
  }
  return sections;
}

function has(lines: string[][], text: string): boolean {
  return lines.some((l) => l.join(" ") === text);
}

function ciDenoVersion(): string {
  const ci = Deno.readTextFileSync(".ci/run");
  return ci.match(/DENO_VERSION=(\S+)/)![1]!;
}

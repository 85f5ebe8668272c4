import assert from "node:assert/strict";
import { configFile, rawHttp, runHeraldToExit, startHerald, waitFor } from "./_testing.ts";

Deno.test("serve answers the seeds' curl and prints one NDJSON event on stdout", async () => {
  const herald = await startHerald();
  try {
    // fetch() cannot set Host; ab and game clients can.
    const res = await rawHttp(
      herald.port,
      "GET /purchase_a_sword HTTP/1.1\r\nHost: user1.comcast.com\r\nConnection: close\r\n\r\n",
    );
    assert.match(res, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(res.endsWith("\r\n\r\nSword Purchased!\n"), res);
    const requestId = res.match(/x-request-id: (\S+)/)?.[1];
    const status = await herald.stop();
    assert.equal(status.code, 0, herald.stderr());
    const lines = herald.stdout().trim().split("\n");
    assert.equal(lines.length, 1, herald.stdout());
    const event = JSON.parse(lines[0]!);
    assert.deepEqual(Object.keys(event), [
      "event_id",
      "event_type",
      "action",
      "received_at",
      "host",
      "user_agent",
      "accept",
      "client_ip",
      "request_id",
      "description",
      "sword_type",
      "strength",
    ]);
    assert.equal(event.event_type, "purchase_sword");
    assert.equal(event.host, "user1.comcast.com");
    assert.equal(event.client_ip, "127.0.0.1");
    assert.equal(event.request_id, requestId);
    assert.match(event.received_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Math.abs(Date.parse(event.received_at) - Date.now()) < 60_000);
    assert.ok(Number.isInteger(event.strength) && event.strength >= 0 && event.strength <= 10);
    assert.ok(herald.stderr().includes('"msg":"listening"'), "logs go to stderr");
  } finally {
    await herald.stop();
  }
});

Deno.test("serve keeps credential headers out of stdout and stderr on every path", async () => {
  const herald = await startHerald();
  const canary = `CANARY-${crypto.randomUUID()}`;
  const headers = {
    authorization: `Bearer ${canary}`,
    cookie: `session=${canary}`,
    "proxy-authorization": `Basic ${canary}`,
    "x-api-key": canary,
    "user-agent": "game/1.0",
  };
  try {
    const paths = [
      "/purchase_a_sword",
      "/purchase_a_sword?strength=99",
      "/nowhere",
      "/join_guild?guild=" + "g".repeat(100),
    ];
    for (const path of paths) await (await fetch(herald.url + path, { headers })).body?.cancel();
    const batch = await fetch(`${herald.url}/events`, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json" },
      body: JSON.stringify([{ action: "declare_peace" }, { action: "x" }]),
    });
    assert.equal(batch.status, 207);
    await batch.body?.cancel();
  } finally {
    assert.equal((await herald.stop()).code, 0);
  }
  assert.equal(herald.stdout().trim().split("\n").length, 2, "two events were accepted");
  assert.ok(!herald.stdout().includes(canary), "no credential in the event stream");
  assert.ok(!herald.stderr().includes(canary), "no credential in the logs");
});

Deno.test("serve refuses an invalid config before binding, naming file, line and key", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/bad.yaml`;
  await Deno.writeTextFile(
    file,
    "actions:\n  - name: a\n    fields:\n      strength: { type: integr }\n",
  );
  const result = await runHeraldToExit(["--config", file, "--port", "0"]);
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    new RegExp(`${file}:4: actions\\[0\\]\\.fields\\.strength\\.type: unknown type "integr"`),
  );
  assert.ok(!result.stderr.includes("listening"), result.stderr);
  assert.equal(result.stdout, "");

  const badSink = await runHeraldToExit(["--sinks", "stdout,kafak", "--port", "0"]);
  assert.equal(badSink.code, 1);
  assert.match(badSink.stderr, /Unknown sink "kafak"/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("serve drains on SIGTERM: every request answered 2xx has its event on stdout", async () => {
  // A long ack timeout: requests held back by the unread pipe must not time out meanwhile.
  const config = await configFile({ server: { ack_timeout_ms: 60_000 } });
  // Nobody reads stdout at first, so the pipe fills and requests wait in flight.
  const herald = await startHerald(["--config", config], { readStdout: false });
  const results: { status: number; id: string | null }[] = [];
  const requests: Promise<unknown>[] = [];
  const send = (i: number) =>
    requests.push(
      fetch(`${herald.url}/join_guild?guild=g${i}`)
        .then(async (res) => {
          await res.body?.cancel();
          results.push({ status: res.status, id: res.headers.get("x-request-id") });
        })
        .catch(() => results.push({ status: 0, id: null })),
    );
  for (let i = 0; i < 400; i++) send(i);
  // Once the pipe is full a flush is stuck on stdout, and an event that arrives after it waits
  // as queued bytes: one more request per check shows that state, which lasts until stdout is read.
  let probe = 400;
  await waitFor(async () => {
    send(probe++);
    const ready = await (await fetch(`${herald.url}/readyz`)).json();
    return ready.sinks.stdout.queue.queued > 0;
  }, { what: "a write stuck behind the full stdout pipe", detail: herald.stderr });
  const sent = requests.length;
  const answeredBeforeSignal = results.length;
  const exit = herald.stop("SIGTERM"); // also starts reading stdout
  await Promise.all(requests);
  const status = await exit;
  await Deno.remove(config);
  assert.equal(status.code, 0, herald.stderr());
  assert.ok(answeredBeforeSignal < sent, "some requests were still in flight at SIGTERM");
  const ok = results.filter((r) => r.status === 200);
  assert.ok(
    ok.length > answeredBeforeSignal,
    `in-flight requests finished: ${ok.length} > ${answeredBeforeSignal}`,
  );
  const written = new Set(herald.stdout().trim().split("\n").map((l) => JSON.parse(l).request_id));
  for (const r of ok) {
    assert.ok(written.has(r.id), `event of acknowledged request ${r.id} is on stdout`);
  }
  assert.match(herald.stderr(), /"msg":"draining"[\s\S]*"msg":"stopped"/);
});

/** Sends a request head and a body with its Content-Length over TCP; returns the answer. */
function rawBytes(port: number, head: string, body: Uint8Array): Promise<string> {
  const start = new TextEncoder().encode(`${head}Content-Length: ${body.length}\r\n\r\n`);
  return rawHttp(port, new Uint8Array([...start, ...body]));
}

Deno.test("serve answers 400 to bodies that are not UTF-8 or nest too deep, and writes nothing", async () => {
  const herald = await startHerald();
  const post = (path: string, type: string) =>
    `POST ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: ${type}\r\n`;
  const bodyOf = (res: string) => JSON.parse(res.slice(res.indexOf("\r\n\r\n") + 4));
  try {
    const notUtf8 = new Uint8Array([...new TextEncoder().encode('{"guild":"'), 0xff, 0x22, 0x7d]);
    const a = await rawBytes(herald.port, post("/join_guild", "application/json"), notUtf8);
    assert.match(a, /^HTTP\/1\.1 400 /);
    assert.deepEqual(bodyOf(a), { error: "bad_request", message: "Body is not valid UTF-8" });

    const deep = new TextEncoder().encode("[".repeat(20_000) + "]".repeat(20_000));
    for (
      const [path, type] of [["/events", "application/json"], ["/join_guild", "application/json"], [
        "/events",
        "application/x-ndjson",
      ]]
    ) {
      const res = await rawBytes(herald.port, post(path!, type!), deep);
      assert.match(res, /^HTTP\/1\.1 400 /, `${path} ${type}`);
      assert.match(bodyOf(res).message, /deeper than 8 levels/);
    }
    // Brackets inside strings do not count, and a flat batch is fine.
    const flat = new TextEncoder().encode(
      JSON.stringify([{ action: "join_guild", guild: "[[[[[[[[[[[[" }]),
    );
    const ok = await rawBytes(herald.port, post("/events", "application/json"), flat);
    assert.match(ok, /^HTTP\/1\.1 200 /, ok);
  } finally {
    assert.equal((await herald.stop()).code, 0, herald.stderr());
  }
  const lines = herald.stdout().trim().split("\n");
  assert.equal(lines.length, 1, "only the valid batch became an event");
  assert.equal(JSON.parse(lines[0]!).guild, "[[[[[[[[[[[[");
});

Deno.test("serve refuses CR or LF inside a header value and __proto__ fields, writing nothing", async () => {
  const herald = await startHerald();
  try {
    for (const ua of ['game\r{"forged":true}', 'game\n{"forged":true}']) {
      const res = await rawHttp(
        herald.port,
        `GET /purchase_a_sword HTTP/1.1\r\nHost: x\r\nUser-Agent: ${ua}\r\nConnection: close\r\n\r\n`,
      );
      assert.doesNotMatch(res, /^HTTP\/1\.1 2/, JSON.stringify(ua));
    }
    const proto = await fetch(`${herald.url}/join_guild`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"__proto__": {"admin": true}, "constructor": {"prototype": {"x": 1}}, "guild": "k"}',
    });
    assert.equal(proto.status, 400);
    const body = await proto.json();
    assert.deepEqual(body.fields.map((f: { field: string }) => f.field), [
      "__proto__",
      "constructor",
    ]);
  } finally {
    assert.equal((await herald.stop()).code, 0);
  }
  assert.equal(herald.stdout(), "", "nothing was written");
});

Deno.test("serve logs one startup summary and nothing per event", async () => {
  const herald = await startHerald(["--sinks", "stdout"]);
  const ids: string[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${herald.url}/purchase_a_sword`);
      await res.body?.cancel();
      ids.push(res.headers.get("x-request-id")!);
    }
  } finally {
    assert.equal((await herald.stop()).code, 0);
  }
  const lines = herald.stderr().trim().split("\n").map((l) => JSON.parse(l));
  const summary = lines.find((l) => l.msg === "listening");
  assert.deepEqual(summary.sinks, ["stdout"]);
  assert.ok(summary.actions.includes("purchase_a_sword"));
  assert.equal(summary.port, herald.port);
  assert.equal(summary.config, "config/gateway.yaml");
  assert.equal(summary.versions.deno, Deno.version.deno);
  assert.match(summary.versions.hono, /^\d+\.\d+\.\d+$/);
  assert.deepEqual(summary.write_keys, []);
  assert.deepEqual(lines.map((l) => l.msg), ["listening", "draining", "stopped"]);
  for (const id of ids) assert.ok(!herald.stderr().includes(id), "no log line per event");
});

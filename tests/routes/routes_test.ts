import assert from "node:assert/strict";
import { appWithMemorySink, configFrom, shippedConfig, waitFor } from "../_testing.ts";

const SEED_ENDPOINTS: [string, string, string][] = [
  ["/", "This is the default response!\n", "default"],
  ["/purchase_a_sword", "Sword Purchased!\n", "purchase_sword"],
  ["/purchase_a_knife", "Knife Purchased!\n", "purchase_knife"],
  ["/purchase_an_axe", "Axe Purchased!\n", "purchase_axe"],
  ["/purchase_a_shield", "Shield Purchased!\n", "purchase_shield"],
  ["/join_guild", "Guild Joined!\n", "join_guild"],
  ["/join_a_guild", "Guild Joined!\n", "join_guild"],
  ["/declare_peace", "Peace Declared!\n", "declare_peace"],
  ["/declare_a_war", "War Declared!\n", "declare_war"],
];

Deno.test("buildApp() answers every seed endpoint with the seeds' text and writes one event", async () => {
  const { app, sink } = appWithMemorySink(await shippedConfig());
  for (const [path, text, eventType] of SEED_ENDPOINTS) {
    const res = await app.request(path, { headers: { host: "knight1.comcast.com" } });
    assert.equal(res.status, 200, path);
    assert.equal(await res.text(), text);
    const event = sink.events.at(-1)!;
    assert.equal(event.event_type, eventType);
    assert.equal(event.host, "knight1.comcast.com");
  }
  assert.equal(sink.events.length, SEED_ENDPOINTS.length);
  const sword = sink.events[1]!;
  assert.deepEqual(sword, {
    event_id: "evt-2",
    event_type: "purchase_sword",
    action: "purchase_a_sword",
    received_at: "2026-11-23T10:00:00.000Z",
    host: "knight1.comcast.com",
    user_agent: null,
    accept: null,
    client_ip: null,
    request_id: "req-1",
    description: "sword",
    sword_type: "large",
    strength: 0,
  });
});

Deno.test("buildApp() takes GET fields from the query and POST fields from JSON", async () => {
  const { app, sink } = appWithMemorySink(await shippedConfig());
  const get = await app.request("/purchase_a_sword?sword_type=short");
  assert.equal(get.status, 200);
  const post = await app.request("/join_guild", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ guild: "knights" }),
  });
  assert.equal(post.status, 200);
  assert.equal(sink.events[0]!.sword_type, "short");
  assert.equal(sink.events[1]!.guild, "knights");
});

Deno.test("buildApp() answers 400 naming each bad field, and writes nothing", async () => {
  const { app, sink } = appWithMemorySink(await shippedConfig());
  const res = await app.request("/purchase_a_sword?sword_type=tiny&strength=10&colour=red");
  assert.equal(res.status, 400);
  assert.deepEqual(await res.json(), {
    error: "invalid_fields",
    message: 'Invalid fields for action "purchase_a_sword"',
    fields: [
      { field: "sword_type", problem: 'must be one of "short", "long", "large"' },
      { field: "strength", problem: "is set by the server" },
      { field: "colour", problem: "is not a field of this action" },
    ],
  });
  const bodies: [string, string | undefined, number, string][] = [
    ["[1]", "application/json", 400, "invalid_body"],
    ["{", "application/json", 400, "bad_request"],
    ["guild=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"],
  ];
  for (const [body, type, status, error] of bodies) {
    const r = await app.request("/join_guild", {
      method: "POST",
      body,
      headers: type ? { "content-type": type } : {},
    });
    assert.equal(r.status, status, body);
    assert.equal((await r.json()).error, error);
  }
  assert.equal(sink.events.length, 0);
});

Deno.test("buildApp() answers 404 for unknown paths and 405 for other methods", async () => {
  const { app, sink } = appWithMemorySink(await shippedConfig());
  const missing = await app.request("/buy_a_sword");
  assert.equal(missing.status, 404);
  assert.deepEqual(await missing.json(), {
    error: "not_found",
    message: 'No action at "/buy_a_sword"',
  });
  for (const method of ["PUT", "DELETE", "PATCH", "HEAD"]) {
    const res = await app.request("/purchase_a_sword", { method });
    assert.equal(res.status, 405, method);
    assert.equal(res.headers.get("allow"), "GET, POST");
  }
  assert.equal((await app.request("/events")).status, 405);
  assert.equal(sink.events.length, 0);
});

Deno.test("buildApp() answers 413 for a body over max_body_bytes", async () => {
  const { app, sink } = appWithMemorySink(
    configFrom(`server: { max_body_bytes: 64 }\nactions: [{ name: a }]\n`),
  );
  const res = await app.request("/a", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ pad: "x".repeat(100) }),
  });
  assert.equal(res.status, 413);
  assert.equal((await res.json()).error, "payload_too_large");
  assert.equal(sink.events.length, 0);
});

Deno.test("buildApp() answers 503 with Retry-After when a sink fails or is too slow", async () => {
  const { app, sink, logLines } = appWithMemorySink(await shippedConfig(), { timeoutMs: 50 });
  sink.failWith = "disk on fire";
  const failed = await app.request("/purchase_a_sword", {
    headers: { authorization: "Bearer CANARY-1" },
  });
  assert.equal(failed.status, 503);
  assert.equal(failed.headers.get("retry-after"), "1");
  assert.match((await failed.json()).message, /disk on fire/);
  sink.failWith = null;
  sink.delayMs = 200;
  const slow = await app.request("/purchase_a_sword");
  assert.equal(slow.status, 503);
  assert.match((await slow.json()).message, /did not confirm within 50 ms/);
  assert.ok(
    logLines.some((l) => l.includes('"request_id":"req-0"')),
    "the failure is logged with its request id",
  );
  assert.ok(!logLines.join("").includes("CANARY"), "no header value reaches the log");
  assert.equal(sink.events.length, 0, "the 503 came from the timeout, before the sink settled");
  // The slow write settles later; waiting for it leaves no timer behind the test.
  await waitFor(() => sink.events.length === 1, { what: "the slow write to settle" });
});

Deno.test("buildApp() never copies credential headers, and ignores a client's X-Request-Id", async () => {
  const config = configFrom(`actions: [{ name: a }]\n`);
  const { app, sink } = appWithMemorySink(config);
  const res = await app.request("/a", {
    headers: {
      authorization: "Bearer CANARY-2",
      cookie: "session=CANARY-3",
      "proxy-authorization": "Basic CANARY-4",
      "x-api-key": "CANARY-5",
      "x-request-id": "client-chosen",
    },
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-request-id"), "req-0");
  const written = JSON.stringify(sink.events);
  assert.ok(!written.includes("CANARY"), written);
  assert.equal(sink.events[0]!.request_id, "req-0");
});

Deno.test("POST /events accepts a JSON array and answers per item", async () => {
  const { app, sink } = appWithMemorySink(await shippedConfig());
  const res = await app.request("/events", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify([
      { action: "purchase_a_sword", sword_type: "long" },
      { action: "teleport" },
      { action: "join_guild", guild: 7 },
      "nope",
      { action: "declare_peace" },
    ]),
  });
  assert.equal(res.status, 207);
  assert.deepEqual(await res.json(), {
    accepted: 2,
    rejected: 3,
    results: [
      { index: 0, status: "accepted", event_id: "evt-1" },
      { index: 1, status: "rejected", error: 'Unknown action "teleport"' },
      {
        index: 2,
        status: "rejected",
        error: 'Invalid fields for action "join_guild"',
        fields: [{ field: "guild", problem: "must be a string" }],
      },
      { index: 3, status: "rejected", error: "Item must be a JSON object" },
      { index: 4, status: "accepted", event_id: "evt-2" },
    ],
  });
  assert.deepEqual(sink.events.map((e) => e.event_type), ["purchase_sword", "declare_peace"]);
  assert.equal(
    sink.events[0]!.request_id,
    sink.events[1]!.request_id,
    "one request, one request id",
  );
});

Deno.test("POST /events accepts NDJSON and rejects empty, oversized and all-invalid batches", async () => {
  const config = configFrom(`server: { max_batch_events: 3 }\nactions: [{ name: a }]\n`);
  const { app, sink } = appWithMemorySink(config);
  const post = (body: string, type = "application/x-ndjson") =>
    app.request("/events", { method: "POST", headers: { "content-type": type }, body });
  const ok = await post('{"action":"a"}\n\n{"action":"a"}\n');
  assert.equal(ok.status, 200);
  assert.deepEqual((await ok.json()).accepted, 2);
  assert.equal((await post("[]", "application/json")).status, 400);
  assert.equal((await post('{"action":"a"}\n'.repeat(4))).status, 413);
  const invalid = await post('{"action":"b"}\n');
  assert.equal(invalid.status, 400);
  assert.equal((await invalid.json()).rejected, 1);
  assert.equal(sink.events.length, 2);
});

Deno.test("GET /healthz and /readyz report the process and each sink", async () => {
  const { app, sink } = appWithMemorySink(await shippedConfig());
  assert.deepEqual(await (await app.request("/healthz")).json(), { status: "ok" });
  const ready = await app.request("/readyz");
  assert.equal(ready.status, 200);
  const queue = { queued: 0, limit: 100, unit: "events" };
  assert.deepEqual(await ready.json(), { status: "ready", sinks: { memory: { ok: true, queue } } });
  sink.failWith = "broker down";
  const notReady = await app.request("/readyz");
  assert.equal(notReady.status, 503);
  assert.deepEqual(await notReady.json(), {
    status: "unavailable",
    sinks: { memory: { ok: false, detail: "broker down", queue } },
  });
});

Deno.test("buildApp() refuses one event over max_event_bytes, in a batch or alone", async () => {
  const { app, sink } = appWithMemorySink(
    configFrom(
      `server: { max_event_bytes: 100 }\nactions: [{ name: a, fields: { s: { type: string } } }]\n`,
    ),
  );
  const big = "é".repeat(60); // 120 bytes of UTF-8, 60 characters
  const batch = await app.request("/events", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify([{ action: "a", s: "small" }, { action: "a", s: big }]),
  });
  assert.equal(batch.status, 207);
  const results = (await batch.json()).results;
  assert.equal(results[0].status, "accepted");
  assert.match(results[1].error, /^Item is \d+ bytes of JSON, over the limit of 100$/);
  const post = await app.request("/a", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ s: big }),
  });
  assert.equal(post.status, 413);
  assert.equal((await post.json()).error, "event_too_large");
  const get = await app.request(`/a?s=${"x".repeat(120)}`);
  assert.equal(get.status, 413);
  assert.equal(sink.events.length, 1, "only the small batch item was written");
});

Deno.test("a 503 logs one line with the request id; client errors and successes log none", async () => {
  const { app, sink, logLines } = appWithMemorySink(await shippedConfig());
  assert.equal((await app.request("/purchase_a_sword")).status, 200);
  assert.equal((await app.request("/purchase_a_sword?sword_type=huge")).status, 400);
  assert.equal((await app.request("/nowhere")).status, 404);
  assert.deepEqual(logLines, []);
  sink.failWith = "broker down";
  const res = await app.request("/purchase_a_sword");
  assert.equal(res.status, 503);
  assert.equal(logLines.length, 1);
  const line = JSON.parse(logLines[0]!);
  assert.equal(line.request_id, res.headers.get("x-request-id"));
  assert.equal(line.msg, "event not accepted");
  assert.match(line.err, /broker down/);
  assert.equal(line.level, 40);
});

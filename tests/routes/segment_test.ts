import assert from "node:assert/strict";
import { parseConfig } from "../../config/mod.ts";
import { eventIdOf } from "../../routes/segment_messages.ts";
import { SINKS } from "../../sinks/mod.ts";
import { appWithMemorySink, compress, configFrom, sample, shippedConfig } from "../_testing.ts";

const SEGMENT_YAML = `
sinks: [stdout]
segment:
  enabled: true
  context: { ip: string, library.name: string, screen.width: int }
  identify: identify_user
  page: page_view
actions:
  - name: purchase_a_sword
    event_type: purchase_sword
    segment_event: Sword Purchased
    table: purchases
    fields:
      sword_type: { type: enum, values: [short, long, large], default: large }
      price: { type: float, required: false }
      description: { type: string, value: sword }
  - name: join_guild
    table: joins
    fields:
      guild: { type: string, max_length: 64, required: false }
      note: { type: string, required: false }
  - name: join_a_guild
    event_type: join_guild
    table: joins
    fields:
      guild: { type: string, max_length: 64, required: false }
  - name: declare_peace
    table: declarations
  - name: identify_user
    table: users
    fields:
      plan: { type: string, required: false }
      age: { type: int, required: false }
  - name: page_view
    table: pages
    fields:
      name: { type: string }
      url: { type: string, required: false }
`;

const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(body),
});

const track = (event: string, properties: Record<string, unknown> = {}, extra = {}) => ({
  type: "track",
  event,
  properties,
  userId: "u1",
  messageId: `m-${crypto.randomUUID()}`,
  ...extra,
});

Deno.test("Segment routes are absent (404) unless segment.enabled", async () => {
  const { app, sink } = appWithMemorySink(await shippedConfig());
  for (const path of ["/v1/batch", "/v1/track", "/v1/b", "/v1/t"]) {
    const res = await app.request(path, json({ batch: [track("declare_peace")] }));
    assert.equal(res.status, 404, path);
  }
  assert.equal(sink.events.length, 0);
});

Deno.test("/v1/track lands a track as its action's event, typed, with Segment's columns", async () => {
  const { app, sink } = appWithMemorySink(configFrom(SEGMENT_YAML));
  const messageId = "node-next-1700000000000-5c1c1e7e-1111-4222-8333-444455556666";
  const res = await app.request(
    "/v1/track",
    json({
      event: "Sword Purchased",
      properties: { sword_type: "short", price: 4.5 },
      userId: "player-1",
      anonymousId: "anon-1",
      messageId,
      timestamp: "2026-11-23T09:59:58.000Z",
      context: {
        ip: "203.0.113.9",
        library: { name: "analytics-node", version: "3" },
        locale: "fr",
      },
      integrations: { All: true },
    }),
  );
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { success: true });
  assert.equal(sink.events.length, 1);
  const event = sink.events[0]!;
  assert.equal(event.action, "purchase_a_sword");
  assert.equal(event.event_type, "purchase_sword");
  assert.equal(event.sword_type, "short");
  assert.equal(event.price, 4.5);
  assert.equal(event.description, "sword");
  assert.equal(event.user_id, "player-1");
  assert.equal(event.anonymous_id, "anon-1");
  assert.equal(event.message_id, messageId);
  assert.equal(event.context_ip, "203.0.113.9");
  assert.equal(event.context_library_name, "analytics-node");
  assert.equal(event.context_screen_width, null, "an absent context value is null");
  assert.equal(event.event_id, eventIdOf(messageId));
  assert.ok(!("context_locale" in event), "only the configured context paths are columns");
});

Deno.test("eventIdOf() keeps a UUID and derives a stable UUIDv8 from anything else", () => {
  const uuid = "5C1C1E7E-1111-4222-8333-444455556666";
  assert.equal(eventIdOf(uuid), uuid, "kept (ingest lowercases it)");
  const derived = eventIdOf("node-next-1-abc");
  assert.match(derived, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(eventIdOf("node-next-1-abc"), derived, "the same messageId, the same id");
  assert.notEqual(eventIdOf("node-next-1-abd"), derived);
});

Deno.test("a track event maps by segment_event, action name, or a unique event_type", async () => {
  const { app, sink } = appWithMemorySink(configFrom(SEGMENT_YAML));
  const res = await app.request(
    "/v1/batch",
    json({
      batch: [
        track("Sword Purchased"),
        track("purchase_a_sword"),
        track("purchase_sword"),
        track("join_guild", { guild: "knights" }),
        track("declare_peace"),
      ],
    }),
  );
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { success: true });
  assert.deepEqual(sink.events.map((e) => e.action), [
    "purchase_a_sword",
    "purchase_a_sword",
    "purchase_a_sword",
    "join_guild",
    "declare_peace",
  ]);
});

Deno.test("a batch with bad messages writes the good ones and answers 207 naming each problem", async () => {
  const { app, sink } = appWithMemorySink(configFrom(SEGMENT_YAML));
  const good = track("Sword Purchased", { sword_type: "long" }, { messageId: "ok-1" });
  const res = await app.request(
    "/v1/batch",
    json({
      batch: [
        good,
        track("Dragon Slain", {}, { messageId: "bad-1" }),
        track("Sword Purchased", { sword_type: "tiny", colour: "red", description: "x" }),
        { ...track("declare_peace"), userId: undefined },
        { type: "alias", userId: "u1", previousId: "u0" },
        { type: "group", userId: "u1", groupId: "g1" },
        { ...track("declare_peace"), context: { screen: { width: "wide" } } },
        track("join_a_guild", { guild: "g".repeat(65) }),
        "not an object",
        { ...track("declare_peace"), type: "flush" },
      ],
    }),
  );
  assert.equal(res.status, 207);
  const body = await res.json();
  assert.equal(body.success, false);
  assert.equal(body.accepted, 1);
  assert.equal(body.rejected, 9);
  assert.equal(sink.events.length, 1);
  assert.equal(sink.events[0]!.sword_type, "long");
  const [first, ...rest] = body.results;
  assert.deepEqual(first, {
    index: 0,
    messageId: "ok-1",
    status: "accepted",
    event_id: eventIdOf("ok-1"),
  });
  assert.ok(rest.every((r: { status: string }) => r.status === "rejected"));
  const fields = (i: number) => body.results[i].fields;
  assert.equal(body.results[1].messageId, "bad-1");
  assert.deepEqual(fields(1), [{
    field: "event",
    problem: '"Dragon Slain" is not an action\'s name, event_type or segment_event',
  }]);
  assert.deepEqual(fields(2), [
    { field: "properties.sword_type", problem: 'must be one of "short", "long", "large"' },
    { field: "properties.description", problem: "is set by the server" },
    { field: "properties.colour", problem: "is not a field of this action" },
  ]);
  assert.deepEqual(fields(3), [{ field: "userId", problem: "or anonymousId is required" }]);
  assert.deepEqual(fields(4), [{ field: "type", problem: '"alias" calls are not served' }]);
  assert.deepEqual(fields(5), [{ field: "type", problem: '"group" calls are not served' }]);
  assert.deepEqual(fields(6), [{ field: "context.screen.width", problem: "must be an integer" }]);
  assert.deepEqual(fields(7), [{
    field: "properties.guild",
    problem: "must be at most 64 characters",
  }]);
  assert.equal(body.results[8].error, "Message must be a JSON object");
  assert.match(fields(9)[0].problem, /must be one of "track", "identify", "page", "screen"/);
});

Deno.test("a batch with no valid message is 400 and writes nothing; so is a bad single call", async () => {
  const { app, sink } = appWithMemorySink(configFrom(SEGMENT_YAML));
  const res = await app.request("/v1/b", json({ batch: [track("Nope"), track("Nope either")] }));
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.equal(body.error, "invalid_events");
  assert.equal(body.rejected, 2);
  assert.equal(body.results.length, 2);

  const single = await app.request("/v1/t", json(track("Sword Purchased", { price: "cheap" })));
  assert.equal(single.status, 400);
  assert.deepEqual(await single.json(), {
    error: "invalid_fields",
    message: 'Invalid fields for action "purchase_a_sword"',
    fields: [{ field: "properties.price", problem: "must be a number" }],
  });
  const ambiguous = configFrom(
    SEGMENT_YAML.replace(
      "  - name: join_guild\n",
      "  - name: join_guild_now\n    event_type: join_guild\n",
    ),
  );
  const other = appWithMemorySink(ambiguous);
  const twice = await other.app.request("/v1/track", json(track("join_guild")));
  assert.equal(twice.status, 400);
  assert.match(
    (await twice.json()).fields[0].problem,
    /is the event_type of several actions \(join_guild_now, join_a_guild\): set segment_event/,
  );
  for (
    const [body, status, error] of [
      ["{", 400, "bad_request"],
      ["[]", 400, "invalid_body"],
      ['{"batch": []}', 400, "bad_request"],
    ] as const
  ) {
    const path = body.includes("batch") ? "/v1/batch" : "/v1/track";
    const r = await app.request(path, { method: "POST", body });
    assert.equal(r.status, status, body);
    assert.equal((await r.json()).error, error);
  }
  const get = await app.request("/v1/batch");
  assert.equal(get.status, 405);
  assert.equal(get.headers.get("allow"), "POST");
  assert.equal(sink.events.length, 0);
  assert.equal(other.sink.events.length, 0);
});

Deno.test("identify lands traits and page lands properties with its name, in their actions", async () => {
  const { app, sink } = appWithMemorySink(configFrom(SEGMENT_YAML));
  const identify = await app.request(
    "/v1/identify",
    json({ userId: "u7", traits: { plan: "gold", age: 31 }, messageId: "i-1" }),
  );
  assert.equal(identify.status, 200);
  const page = await app.request(
    "/v1/page",
    json({ anonymousId: "a7", name: "Shop", properties: { url: "https://game.example/shop" } }),
  );
  assert.equal(page.status, 200);
  const screen = await app.request("/v1/screen", json({ userId: "u7", name: "Map" }));
  assert.equal(screen.status, 400, "screen calls are not mapped in this config");
  assert.deepEqual((await screen.json()).fields, [{
    field: "type",
    problem: '"screen" calls are not mapped to an action: set segment.screen',
  }]);
  const badTrait = await app.request("/v1/i", json({ userId: "u7", traits: { age: "old" } }));
  assert.deepEqual((await badTrait.json()).fields, [{
    field: "traits.age",
    problem: "must be an integer",
  }]);
  assert.deepEqual(
    sink.events.map((e) => [e.action, e.user_id, e.anonymous_id, e.plan ?? e.name, e.age ?? e.url]),
    [
      ["identify_user", "u7", null, "gold", 31],
      ["page_view", null, "a7", "Shop", "https://game.example/shop"],
    ],
  );
});

Deno.test("unknown_properties: drop keeps the message and drops what the action has no field for", async () => {
  const config = configFrom(
    SEGMENT_YAML.replace("  enabled: true\n", "  enabled: true\n  unknown_properties: drop\n"),
  );
  const { app, sink } = appWithMemorySink(config);
  const res = await app.request(
    "/v1/track",
    json(track("Sword Purchased", { sword_type: "short", colour: "red", description: "x" })),
  );
  assert.equal(res.status, 200);
  assert.equal(sink.events[0]!.sword_type, "short");
  assert.equal(sink.events[0]!.description, "sword");
  assert.ok(!("colour" in sink.events[0]!));
});

Deno.test("Segment limits: 32 KB a message, 500 KB a batch, on the decompressed bytes", async () => {
  const { app, sink } = appWithMemorySink(configFrom(SEGMENT_YAML));
  // ~100 KB of messages: over server.max_body_bytes, within segment.max_batch_bytes.
  const note = "n".repeat(20_000);
  const big = { batch: Array.from({ length: 5 }, () => track("join_guild", { note })) };
  const res = await app.request("/v1/batch", json(big));
  assert.equal(res.status, 200);
  assert.equal(sink.events.length, 5);

  const tooBig = track("join_guild", { note: "n".repeat(33_000) });
  const mixed = await app.request("/v1/batch", json({ batch: [tooBig, track("declare_peace")] }));
  assert.equal(mixed.status, 207);
  assert.match((await mixed.json()).results[0].error, /over the limit of 32768/);
  const single = await app.request("/v1/track", json(tooBig));
  assert.equal(single.status, 413);
  assert.equal((await single.json()).error, "event_too_large");

  const huge = JSON.stringify({
    batch: Array.from({ length: 30 }, () => track("join_guild", { note })),
  });
  const declared = await app.request("/v1/batch", json(JSON.parse(huge)));
  assert.equal(declared.status, 413);
  const gzipped = await compress(huge, "gzip");
  assert.ok(gzipped.length < 512000);
  const inflated = await app.request("/v1/batch", {
    method: "POST",
    headers: { "content-type": "application/json", "content-encoding": "gzip" },
    body: gzipped as BodyInit,
  });
  assert.equal(inflated.status, 413, "the limit applies to the decompressed bytes");
  const small = await compress(JSON.stringify({ batch: [track("declare_peace")] }), "gzip");
  const ok = await app.request("/v1/batch", {
    method: "POST",
    headers: { "content-type": "application/json", "content-encoding": "gzip" },
    body: small as BodyInit,
  });
  assert.equal(ok.status, 200);
  assert.equal(sink.events.length, 5 + 1 + 1);
  const tooLargeAction = await app.request("/join_guild", json({ note }));
  assert.equal(tooLargeAction.status, 413, "action routes keep server.max_body_bytes");
});

Deno.test("Segment routes take text/plain JSON, as Segment's browser SDK sends it", async () => {
  const { app, sink } = appWithMemorySink(configFrom(SEGMENT_YAML));
  const res = await app.request("/v1/t", {
    method: "POST",
    headers: { "content-type": "text/plain" },
    body: JSON.stringify(track("declare_peace")),
  });
  assert.equal(res.status, 200);
  assert.equal(sink.events.length, 1);
  const form = await app.request("/v1/t", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "a=b",
  });
  assert.equal(form.status, 415);
});

Deno.test("the write key as Basic user name with an empty password, as Segment's SDKs send it", async () => {
  const withKeys =
    `${SEGMENT_YAML}\nauth:\n  write_keys: [{ name: game, value_env: SEGMENT_KEY }]\n`;
  const { app, sink } = appWithMemorySink(configFrom(withKeys), {
    secrets: { env: () => "secret-key", readFile: () => "" },
  });
  const basic = (user: string, password = "") => ({
    authorization: `Basic ${btoa(`${user}:${password}`)}`,
  });
  const message = () => ({ batch: [track("declare_peace")] });
  assert.equal((await app.request("/v1/batch", json(message(), basic("secret-key")))).status, 200);
  assert.equal(
    (await app.request("/v1/batch", json(message(), basic("x", "secret-key")))).status,
    200,
  );
  const wrong = await app.request("/v1/batch", json(message(), basic("other-key")));
  assert.equal(wrong.status, 401);
  const none = await app.request("/v1/batch", json({ ...message(), writeKey: "secret-key" }));
  assert.equal(none.status, 401, "a key in the body does not count");
  assert.equal(sink.events.length, 2);
  assert.deepEqual(sink.events.map((e) => e.source), ["game", "game"]);

  const open = appWithMemorySink(configFrom(SEGMENT_YAML));
  const anyKey = await open.app.request("/v1/batch", json(message(), basic("whatever")));
  assert.equal(anyKey.status, 200, "with no write keys, anyone may send");
  assert.ok(!("source" in open.sink.events[0]!));
});

Deno.test("Segment requests count under the _segment label in /metrics", async () => {
  const { app } = appWithMemorySink(configFrom(SEGMENT_YAML));
  await app.request("/v1/batch", json({ batch: [track("declare_peace")] }));
  await app.request("/v1/track", json(track("Nope")));
  const text = await (await app.request("/metrics")).text();
  const labels = (status: string) => ({ action: "_segment", status });
  assert.equal(sample(text, "herald_http_requests_total", labels("200")), 1);
  assert.equal(sample(text, "herald_http_requests_total", labels("400")), 1);
});

Deno.test("parseConfig() checks the segment section against the actions", () => {
  const errors = (text: string) => {
    const result = parseConfig(text, { registry: SINKS, file: "t.yaml" });
    return result.ok ? [] : result.errors;
  };
  const actions = "actions:\n  - name: a\n    segment_event: Thing\n";
  assert.deepEqual(
    errors(`segment: { enabled: true, identify: nobody }\n${actions}`),
    ['t.yaml:1: segment.identify: no action is named "nobody"'],
  );
  assert.match(
    errors(`segment: { enabled: true }\n${actions}  - name: b\n    path: /v1/track\n`).join(),
    /actions\[1\]\.path: path "\/v1\/track" is served by the Segment routes/,
  );
  assert.deepEqual(
    errors(`segment: { enabled: false }\n${actions}  - name: b\n    path: /v1/track\n`),
    [],
  );
  assert.match(
    errors(`${actions}  - name: b\n    segment_event: Thing\n`).join(),
    /actions\[1\]\.segment_event: duplicate segment_event "Thing" \(also actions\[0\]\)/,
  );
  assert.match(
    errors(`segment: { enabled: true }\n${actions}    fields: { user_id: { type: string } }\n`)
      .join(),
    /"user_id" is a column Herald sets itself/,
  );
  assert.match(
    errors(`segment: { enabled: true, context: { "bad path": string } }\n${actions}`).join(),
    /segment\.context\.bad path: invalid path/,
  );
  assert.match(
    errors(`segment: { enabled: true, context: { ip: integer } }\n${actions}`).join(),
    /segment\.context\.ip: unknown value "integer"/,
  );
});

Deno.test("a batch's own context fills the context columns its messages leave out", async () => {
  const { app, sink } = appWithMemorySink(configFrom(SEGMENT_YAML));
  const res = await app.request(
    "/v1/batch",
    json({
      context: { library: { name: "analytics-unity" }, ip: "198.51.100.1" },
      batch: [
        track("declare_peace"),
        track("declare_peace", {}, { context: { ip: "203.0.113.9", screen: { width: 1080 } } }),
      ],
    }),
  );
  assert.equal(res.status, 200);
  assert.deepEqual(
    sink.events.map((e) => [e.context_library_name, e.context_ip, e.context_screen_width]),
    [["analytics-unity", "198.51.100.1", null], ["analytics-unity", "203.0.113.9", 1080]],
  );
});

Deno.test("timestamp and sentAt are the client time; a repeat messageId is answered without a write", async () => {
  const { app, sink } = appWithMemorySink(configFrom(SEGMENT_YAML));
  // The device's clock is 1 s ahead of Herald's (10:00:00.000Z in these tests).
  const message = track("declare_peace", {}, { timestamp: "2026-11-23T09:59:58.000Z" });
  const batch = { sentAt: "2026-11-23T10:00:01.000Z", batch: [message] };
  assert.equal((await app.request("/v1/batch", json(batch))).status, 200);
  assert.equal(sink.events.length, 1);
  assert.equal(sink.events[0]!.client_time, "2026-11-23T09:59:58.000Z");
  assert.equal(sink.events[0]!.event_time, "2026-11-23T09:59:57.000Z");
  const again = await app.request("/v1/batch", json(batch));
  assert.equal(again.status, 200);
  assert.deepEqual(await again.json(), { success: true });
  const single = await app.request("/v1/track", json(message));
  assert.equal(single.status, 200);
  assert.equal(sink.events.length, 1, "repeats of a messageId add nothing");

  const bad = await app.request(
    "/v1/batch",
    json({
      batch: [
        track("declare_peace", {}, { messageId: "00000000-0000-0000-0000-000000000000" }),
        track("declare_peace", {}, { timestamp: "yesterday" }),
        track("declare_peace", { timestamp: 1 }),
      ],
    }),
  );
  assert.equal(bad.status, 400);
  const fields = (await bad.json()).results.map((r: { fields: { field: string }[] }) =>
    r.fields.map((f) => f.field)
  );
  assert.deepEqual(fields, [["messageId"], ["timestamp"], ["properties.timestamp"]]);
});

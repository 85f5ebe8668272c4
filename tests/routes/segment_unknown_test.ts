/**
 * `segment.unknown_events`: a message no action takes is rejected (the
 * default), or stored in the `_rejected` table and answered as accepted;
 * over a socket, the Parquet sink's `_rejected` rows read back by DuckDB.
 */
import assert from "node:assert/strict";
import { REJECTED_ACTION } from "../../config/mod.ts";
import { openLake } from "../../query/mod.ts";
import { eventIdOf } from "../../routes/segment_messages.ts";
import { lakeTables } from "../../sinks/parquet/mod.ts";
import { appWithMemorySink, configFrom, sample, startHerald } from "../_testing.ts";

const yaml = (unknownEvents?: string) => `
sinks: [stdout]
segment:
  enabled: true
  identify: identify_user${unknownEvents ? `\n  unknown_events: ${unknownEvents}` : ""}
actions:
  - name: declare_peace
    table: declarations
  - name: identify_user
    table: users
    fields:
      plan: { type: string, required: false }
`;

const json = (body: unknown): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

const track = (event: string, extra: Record<string, unknown> = {}) => ({
  type: "track",
  event,
  userId: "u1",
  messageId: `m-${crypto.randomUUID()}`,
  ...extra,
});

Deno.test("unknown_events: reject (the default) rejects an unknown event and adds no table", async () => {
  const config = configFrom(yaml());
  assert.equal(config.segment.unknown_events, "reject");
  assert.ok(!lakeTables(config).has("_rejected"));
  const { app, sink } = appWithMemorySink(config);
  const res = await app.request("/v1/track", json(track("Dragon Slain")));
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.equal(body.fields[0].field, "event");
  const page = await app.request("/v1/page", json({ ...track("x"), type: "page" }));
  assert.equal(page.status, 400);
  assert.equal(sink.events.length, 0);
});

Deno.test("unknown_events: store answers success and writes the message to _rejected", async () => {
  const { app, sink } = appWithMemorySink(configFrom(yaml("store")));
  const dragon = track("Dragon Slain", {
    properties: { dragon: "red" },
    timestamp: "2026-11-23T09:59:58.000Z",
  });
  const res = await app.request("/v1/track", json(dragon));
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { success: true });
  assert.equal(sink.events.length, 1);
  const event = sink.events[0]!;
  assert.equal(event.action, "_rejected");
  assert.equal(event.event_type, "_rejected");
  assert.equal(event.event_id, eventIdOf(dragon.messageId as string));
  assert.equal(event.message_id, dragon.messageId);
  assert.equal(event.user_id, "u1");
  assert.equal(event.reason, 'unknown event "Dragon Slain"');
  assert.deepEqual(JSON.parse(event.raw as string), dragon);
  assert.equal(event.client_time, "2026-11-23T09:59:58.000Z");
  assert.equal(typeof event.request_id, "string");
  assert.equal(event.topic, null);
  assert.equal(event.offset, null);

  // A call type with no action is stored too; a known event is its action's.
  const batch = await app.request(
    "/v1/batch",
    json({
      batch: [
        { type: "page", name: "Home", anonymousId: "a1", messageId: "p-1" },
        track("declare_peace"),
        { type: "identify", userId: "u2", traits: { plan: "gold" } },
      ],
    }),
  );
  assert.equal(batch.status, 200);
  assert.deepEqual(await batch.json(), { success: true });
  const written = sink.events.slice(1).map((e) => [e.action, e.reason ?? null]);
  assert.deepEqual(written.sort(), [
    ["_rejected", '"page" calls are not mapped to an action'],
    ["declare_peace", null],
    ["identify_user", null],
  ]);

  // A retry of a stored message adds nothing and is not counted again.
  const again = await app.request("/v1/track", json(dragon));
  assert.equal(again.status, 200);
  assert.equal(sink.events.length, 4);
  const text = await (await app.request("/metrics")).text();
  assert.equal(sample(text, "herald_segment_unknown_stored_total"), 2);
});

Deno.test("unknown_events: store still rejects a message with another problem, and is no route", async () => {
  const { app, sink } = appWithMemorySink(configFrom(yaml("store")));
  const noUser = await app.request("/v1/track", json({ event: "Dragon Slain", messageId: "x" }));
  assert.equal(noUser.status, 400);
  const body = await noUser.json();
  assert.deepEqual(body.fields.map((f: { field: string }) => f.field).sort(), ["event", "userId"]);
  const group = await app.request("/v1/batch", json({ batch: [{ type: "group", userId: "u" }] }));
  assert.equal(group.status, 400);
  const noEvent = await app.request("/v1/track", json({ userId: "u1" }));
  assert.equal(noEvent.status, 400);
  for (const path of ["/_rejected", "/"]) {
    assert.equal((await app.request(path, json({ raw: "x", reason: "y" }))).status, 404, path);
  }
  assert.equal(sink.events.length, 0);
});

Deno.test("unknown_events: store answers 503 and remembers nothing when the sink fails", async () => {
  const { app, sink } = appWithMemorySink(configFrom(yaml("store")));
  const dragon = track("Dragon Slain");
  sink.failWith = "disk full";
  const res = await app.request("/v1/track", json(dragon));
  assert.equal(res.status, 503);
  assert.ok(res.headers.get("retry-after"));
  sink.failWith = null;
  assert.equal((await app.request("/v1/track", json(dragon))).status, 200);
  assert.equal(sink.events.length, 1);
});

Deno.test("the _rejected table has the lander's columns and Herald's, with store", () => {
  const columns = lakeTables(configFrom(yaml("store"))).get("_rejected")!;
  const typeOf = (name: string) => columns.find((c) => c.name === name)?.type;
  for (const field of REJECTED_ACTION.fields) assert.equal(typeOf(field.name), field.type);
  assert.equal(typeOf("received_at"), "timestamp");
  assert.equal(typeOf("event_id"), "string");
  assert.equal(typeOf("request_id"), "string");
  assert.equal(typeOf("message_id"), "string");
});

Deno.test("over a socket, stored unknown messages land in the lake's _rejected once", async () => {
  const config = await Deno.makeTempFile({ prefix: "herald-unknown-", suffix: ".yaml" });
  await Deno.writeTextFile(config, yaml("store"));
  const herald = await startHerald(["--config", config, "--sinks", "parquet"]);
  const dragon = track("Dragon Slain", { properties: { dragon: "red" } });
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      const res = await fetch(`${herald.url}/v1/batch`, json({ batch: [dragon] }));
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { success: true });
    }
    const peace = await fetch(`${herald.url}/v1/track`, json(track("declare_peace")));
    assert.equal(peace.status, 200);
    await peace.body?.cancel();
  } finally {
    assert.equal((await herald.stop()).code, 0, herald.stderr());
    await Deno.remove(config);
  }
  const lake = await openLake(herald.lake);
  try {
    const { rows } = await lake.run(
      "select reason, raw, event_id, received_at is not null, topic from _rejected",
    );
    assert.equal(rows.length, 1, "a retry of the same messageId adds nothing");
    const [reason, raw, eventId, received, topic] = rows[0]!;
    assert.equal(reason, 'unknown event "Dragon Slain"');
    assert.deepEqual(JSON.parse(raw as string), dragon);
    assert.equal(eventId, eventIdOf(dragon.messageId as string));
    assert.equal(received, true);
    assert.equal(topic, null);
    const peace = await lake.run("select count(*) from declarations");
    assert.equal(Number(peace.rows[0]![0]), 1);
  } finally {
    lake.close();
    await Deno.remove(herald.lake, { recursive: true });
  }
});

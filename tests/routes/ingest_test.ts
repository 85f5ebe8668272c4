/** Client event ids, the dedup window and client time, through the app in-process. */
import assert from "node:assert/strict";
import { SinkUnavailableError } from "../../sinks/contract.ts";
import { uuidFromText } from "../../routes/ingest.ts";
import { appWithMemorySink, configFrom, sample } from "../_testing.ts";

const CONFIG = (extra = "") =>
  configFrom(`
sinks: [stdout]
${extra}
actions:
  - name: join_guild
    response: "Guild Joined!\\n"
    fields:
      guild: { type: string, default: adventurers }
`);

const ID = "0192F6E0-7C1A-7B3E-8A55-0123456789AB";
const LOWER = ID.toLowerCase();

/** An app over a memory sink whose clock the test moves. */
function app(extra = "") {
  const clock = { now: Date.UTC(2026, 10, 23, 10, 0, 0) };
  const built = appWithMemorySink(CONFIG(extra), { now: () => clock.now });
  return { ...built, clock };
}

const post = (body: unknown, headers: Record<string, string> = {}) => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(body),
});

Deno.test("an action retried with the same event_id writes one event and answers the same", async () => {
  const { app: a, sink } = app();
  const first = await a.request("/join_guild", post({ event_id: ID, guild: "owls" }));
  assert.equal(first.status, 200);
  assert.equal(await first.text(), "Guild Joined!\n");
  assert.equal(first.headers.get("idempotent-replayed"), null);
  const again = await a.request("/join_guild", post({ event_id: LOWER, guild: "owls" }));
  assert.equal(again.status, 200);
  assert.equal(await again.text(), "Guild Joined!\n");
  assert.equal(again.headers.get("idempotent-replayed"), "true");
  const viaGet = await a.request(`/join_guild?event_id=${ID}&guild=owls`);
  assert.equal(await viaGet.text(), "Guild Joined!\n");
  const viaHeader = await a.request("/join_guild", { headers: { "idempotency-key": ID } });
  assert.equal(viaHeader.headers.get("idempotent-replayed"), "true");
  assert.equal(sink.events.length, 1);
  assert.equal(sink.events[0]!.event_id, LOWER, "the client's id, in lowercase");
  assert.equal(sink.events[0]!.guild, "owls");
});

Deno.test("events without a client id keep server ids and are never deduped", async () => {
  const { app: a, sink } = app();
  for (let i = 0; i < 3; i++) await (await a.request("/join_guild")).body?.cancel();
  assert.deepEqual(sink.events.map((e) => e.event_id), ["evt-1", "evt-2", "evt-3"]);
  assert.equal("client_time" in sink.events[0]!, false, "no client time keys when none given");
});

Deno.test("a repeat after the window, or past the count bound, writes again", async () => {
  const { app: a, sink, clock, metrics } = app("dedup: { window_ms: 1000, max_ids: 2 }");
  const ids = [1, 2, 3].map((i) => `0192f6e0-7c1a-7b3e-8a55-00000000000${i}`);
  await a.request("/join_guild", post({ event_id: ids[0] }));
  clock.now += 999;
  await a.request("/join_guild", post({ event_id: ids[0] }));
  assert.equal(sink.events.length, 1, "within the window");
  clock.now += 1;
  await a.request("/join_guild", post({ event_id: ids[0] }));
  assert.equal(sink.events.length, 2, "the window is over");
  await a.request("/join_guild", post({ event_id: ids[1] }));
  await a.request("/join_guild", post({ event_id: ids[2] })); // pushes ids[0] out early
  await a.request("/join_guild", post({ event_id: ids[0] }));
  assert.equal(sink.events.length, 5, "ids[0] went for the count bound");
  const text = (await metrics.scrape()).body;
  assert.equal(sample(text, "herald_dedup_early_evictions_total"), 2);
  assert.equal(sample(text, "herald_dedup_duplicates_total"), 1);
  assert.equal(sample(text, "herald_dedup_ids"), 2);
  assert.equal(sample(text, "herald_dedup_window", { unit: "ms" }), 1000);
  assert.equal(sample(text, "herald_dedup_window", { unit: "ids" }), 2);
});

Deno.test("concurrent repeats of an id in flight write once", async () => {
  const { app: a, sink } = app();
  sink.delayMs = 100;
  const answers = await Promise.all(
    Array.from({ length: 6 }, () => a.request("/join_guild", post({ event_id: ID }))),
  );
  assert.deepEqual(answers.map((r) => r.status), [200, 200, 200, 200, 200, 200]);
  assert.equal(sink.events.length, 1);
  assert.equal(answers.filter((r) => r.headers.get("idempotent-replayed")).length, 5);
});

Deno.test("a write that fails (503) records no id: the retry writes", async () => {
  const { app: a, sink } = app();
  sink.failWith = "disk on fire";
  sink.delayMs = 50;
  const [failed, waiting] = await Promise.all([
    a.request("/join_guild", post({ event_id: ID })),
    a.request("/join_guild", post({ event_id: ID })),
  ]);
  assert.equal(failed.status, 503);
  assert.equal(waiting.status, 503, "the repeat waited, then tried itself and failed too");
  sink.failWith = null;
  const retry = await a.request("/join_guild", post({ event_id: ID }));
  assert.equal(retry.status, 200);
  assert.equal(retry.headers.get("idempotent-replayed"), null);
  assert.equal(sink.events.length, 1);
});

Deno.test("a repeat waiting on a failed write writes the event itself", async () => {
  const { app: a, sink } = app();
  const write = sink.write.bind(sink);
  let calls = 0;
  // The first write fails after a while; the next one succeeds.
  sink.write = async (events) => {
    if (calls++ > 0) return await write(events);
    await new Promise((r) => setTimeout(r, 50));
    throw new SinkUnavailableError("once");
  };
  const first = a.request("/join_guild", post({ event_id: ID }));
  const second = a.request("/join_guild", post({ event_id: ID }));
  assert.equal((await first).status, 503);
  const answer = await second;
  assert.equal(answer.status, 200);
  assert.equal(answer.headers.get("idempotent-replayed"), null);
  assert.equal(sink.events.length, 1);
});

Deno.test("batches waiting on each other's ids after a failed write all finish", async () => {
  // R0 writes A and will fail; R5 writes D; R3 [A,B,C,D] waits on both; once
  // R0 has failed, R1 [A,B] takes A. Were R3 to hold B while it waits, R1
  // would wait on R3 and R3 on R1, for ever.
  const { app: a, sink } = app();
  const write = sink.write.bind(sink);
  const gates = new Map<string, PromiseWithResolvers<void>>();
  sink.write = async (events) => {
    const gate = gates.get(String(events[0]!.event_id));
    if (gate) {
      gates.delete(String(events[0]!.event_id));
      await gate.promise;
    }
    return await write(events);
  };
  const id = (n: number) => `0192f6e0-7c1a-7b3e-8a55-00000000000${n}`;
  const [A, B, C, D] = [1, 2, 3, 4].map(id) as [string, string, string, string];
  const failA = Promise.withResolvers<void>();
  const slowD = Promise.withResolvers<void>();
  gates.set(A, failA);
  gates.set(D, slowD);
  const item = (event_id: string) => ({ action: "join_guild", event_id });
  const r0 = a.request("/events", post([item(A)]));
  const r5 = a.request("/events", post([item(D)]));
  await new Promise((r) => setTimeout(r, 10));
  const r3 = a.request("/events", post([A, B, C, D].map(item)));
  await new Promise((r) => setTimeout(r, 10));
  failA.reject(new SinkUnavailableError("down"));
  assert.equal((await r0).status, 503);
  const r1 = a.request("/events", post([item(A), item(B)]));
  await new Promise((r) => setTimeout(r, 10));
  slowD.resolve();
  const answers = await Promise.race([
    Promise.all([r1, r3, r5]),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error("deadlocked")), 2000)),
  ]);
  assert.deepEqual(answers.map((r) => r.status), [200, 200, 200]);
  const written = sink.events.map((e) => e.event_id).sort();
  assert.deepEqual(written, [A, B, C, D], "each id written once");
});

Deno.test("a batch answers repeats (in it and of earlier batches) as duplicates", async () => {
  const { app: a, sink } = app();
  const other = "0192f6e0-7c1a-7b3e-8a55-0000000000ff";
  const batch = [
    { action: "join_guild", event_id: ID },
    { action: "join_guild", event_id: LOWER },
    { action: "join_guild" },
    { action: "join_guild", event_id: other },
  ];
  const first = await a.request("/events", post(batch));
  assert.equal(first.status, 200);
  const body = await first.json();
  assert.deepEqual(body.results, [
    { index: 0, status: "accepted", event_id: LOWER },
    { index: 1, status: "accepted", event_id: LOWER, duplicate: true },
    { index: 2, status: "accepted", event_id: "evt-1" },
    { index: 3, status: "accepted", event_id: other },
  ]);
  assert.equal(sink.events.length, 3);
  const again = await a.request("/events", post([batch[0], batch[3]]));
  assert.equal(again.status, 200);
  assert.deepEqual((await again.json()).results, [
    { index: 0, status: "accepted", event_id: LOWER, duplicate: true },
    { index: 1, status: "accepted", event_id: other, duplicate: true },
  ]);
  assert.equal(sink.events.length, 3, "nothing new written");
});

Deno.test("bad client ids are 400 naming the field, nothing written", async () => {
  const { app: a, sink } = app();
  const cases: [RequestInit | string, string, RegExp][] = [
    [post({ event_id: "evt-1" }), "event_id", /must be a UUID/],
    [post({ event_id: 42 }), "event_id", /must be a UUID/],
    [post({ event_id: "00000000-0000-0000-0000-000000000000" }), "event_id", /nil/],
    ["/join_guild?event_id=nope", "event_id", /must be a UUID/],
    [{ headers: { "idempotency-key": "retry-1" } }, "Idempotency-Key", /must be a UUID/],
    [
      post({ event_id: ID }, { "idempotency-key": "0192f6e0-7c1a-7b3e-8a55-000000000001" }),
      "Idempotency-Key",
      /differs/,
    ],
  ];
  for (const [init, field, problem] of cases) {
    const res = typeof init === "string" ? await a.request(init) : await a.request(
      "/join_guild",
      init,
    );
    assert.equal(res.status, 400, JSON.stringify(init));
    const body = await res.json();
    assert.equal(body.error, "invalid_fields");
    const found = body.fields.find((f: { field: string }) => f.field === field);
    assert.ok(found, `${field} in ${JSON.stringify(body)}`);
    assert.match(found.problem, problem);
  }
  const batch = await a.request(
    "/events",
    post([{ action: "join_guild", event_id: "x" }, {
      action: "join_guild",
    }]),
  );
  assert.equal(batch.status, 207);
  assert.deepEqual((await batch.json()).results[0].fields, [
    { field: "event_id", problem: "must be a UUID (8-4-4-4-12 hex digits)" },
  ]);
  const keyed = await a.request(
    "/events",
    post([{ action: "join_guild" }], {
      "idempotency-key": ID,
    }),
  );
  assert.equal(keyed.status, 400);
  assert.equal((await keyed.json()).fields[0].field, "Idempotency-Key");
  assert.equal(sink.events.length, 1, "only the valid batch item");
});

Deno.test("client_time is stored with event_time corrected by sent_at", async () => {
  const { app: a, sink, clock } = app();
  const received = clock.now;
  // The device's clock is two hours fast: both its times are.
  const fast = 2 * 3600_000;
  const happened = received - 5000;
  await a.request(
    "/join_guild",
    post({
      client_time: new Date(happened + fast).toISOString(),
      sent_at: received + fast - 200,
    }),
  );
  const [event] = sink.events;
  assert.equal(event!.received_at, new Date(received).toISOString());
  assert.equal(event!.client_time, new Date(happened + fast).toISOString());
  assert.equal(event!.event_time, new Date(happened + 200).toISOString());
  // Without sent_at, no correction; query strings take epoch ms as text.
  await a.request(`/join_guild?client_time=${happened}`);
  assert.equal(sink.events[1]!.event_time, new Date(happened).toISOString());
  // The Sent-At header gives a batch's sent_at; an item's own wins.
  await a.request(
    "/events",
    post([{ action: "join_guild", client_time: happened }, {
      action: "join_guild",
      client_time: happened,
      sent_at: received,
    }], { "sent-at": new Date(received - 1000).toISOString() }),
  );
  assert.deepEqual(sink.events.slice(2).map((e) => e.event_time), [
    new Date(happened + 1000).toISOString(),
    new Date(happened).toISOString(),
  ]);
  // sent_at alone changes nothing.
  await a.request("/join_guild", post({ sent_at: received }));
  assert.equal("client_time" in sink.events[4]!, false);
});

Deno.test("implausible client times are 400 naming the field, and counted", async () => {
  const { app: a, sink, clock, metrics } = app();
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ client_time: "yesterday" }, "client_time", /ISO 8601/],
    [{ client_time: "2026-11-23T10:00:00" }, "client_time", /time zone/],
    [{ client_time: 1764000000 }, "client_time", /before 2000/],
    [{ client_time: clock.now + 86_400_001 }, "client_time", /in the future/],
    [{ client_time: clock.now, sent_at: "soon" }, "sent_at", /ISO 8601/],
    [
      { client_time: clock.now, sent_at: clock.now - 2 * 86_400_000 },
      "client_time",
      /in the future once corrected by sent_at/,
    ],
  ];
  for (const [body, field, problem] of cases) {
    const res = await a.request("/join_guild", post(body));
    assert.equal(res.status, 400, JSON.stringify(body));
    const { fields } = await res.json();
    assert.equal(fields[0].field, field, JSON.stringify(body));
    assert.match(fields[0].problem, problem);
  }
  const res = await a.request("/join_guild", post({ client_time: 1 }, { "sent-at": "later" }));
  assert.deepEqual((await res.json()).fields.map((f: { field: string }) => f.field), [
    "Sent-At",
    "client_time",
  ]);
  assert.equal(sink.events.length, 0);
  const text = (await metrics.scrape()).body;
  assert.equal(
    sample(text, "herald_client_time_invalid_total", {
      key: "client_time",
      outcome: "rejected",
    }),
    6,
  );
  assert.equal(
    sample(text, "herald_client_time_invalid_total", {
      key: "sent_at",
      outcome: "rejected",
    }),
    2,
  );
});

Deno.test("client_time invalid: store_null stores null, keeps the event and counts", async () => {
  const { app: a, sink, clock, metrics } = app("client_time: { invalid: store_null }");
  const ok = await a.request("/join_guild", post({ client_time: "yesterday" }));
  assert.equal(ok.status, 200);
  assert.equal(sink.events[0]!.client_time, null);
  assert.equal(sink.events[0]!.event_time, null);
  // A bad sent_at is dropped: client_time is kept, uncorrected.
  await a.request("/join_guild", post({ client_time: clock.now - 10, sent_at: "soon" }));
  assert.equal(sink.events[1]!.event_time, new Date(clock.now - 10).toISOString());
  const text = (await metrics.scrape()).body;
  assert.equal(
    sample(text, "herald_client_time_invalid_total", { key: "client_time", outcome: "nulled" }),
    1,
  );
  assert.equal(
    sample(text, "herald_client_time_invalid_total", { key: "sent_at", outcome: "nulled" }),
    1,
  );
});

Deno.test("dedup max_ids: 0 keeps client ids but remembers none", async () => {
  const { app: a, sink } = app("dedup: { max_ids: 0 }");
  for (let i = 0; i < 2; i++) await a.request("/join_guild", post({ event_id: ID }));
  assert.deepEqual(sink.events.map((e) => e.event_id), [LOWER, LOWER]);
});

Deno.test("config rejects a field named like a client key", () => {
  assert.throws(
    () =>
      configFrom(`
actions:
  - name: a
    fields: { sent_at: { type: timestamp } }
`),
    /actions\[0\]\.fields\.sent_at/,
  );
});

Deno.test("uuidFromText() makes the same valid UUID from the same text", () => {
  const messageId = "node-next-1668208232027-743be593-7789-4b74-8078-cbcc8894c586";
  const id = uuidFromText(messageId);
  assert.equal(id, uuidFromText(messageId));
  assert.notEqual(id, uuidFromText(messageId + "x"));
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

import assert from "node:assert/strict";
import type { LiveConfig } from "../../config/mod.ts";
import { type Entry, LiveHub, Rejection } from "../../live/hub.ts";
import { Sampler } from "../../live/_sampler.ts";

const LIVE: LiveConfig = {
  enabled: true,
  buffer_events: 5,
  max_events_per_s: 1000,
  max_rejections_per_s: 1000,
  max_viewers: 2,
  key_env: undefined,
  key_file: undefined,
};

const events = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({ event_id: `e${from + i}` }));
const ids = (entries: Entry[]) => entries.map((e) => (e.item as { event_id: string }).event_id);

Deno.test("LiveHub keeps only the last buffer_events items, in order", () => {
  const hub = new LiveHub(LIVE, { now: () => 0 });
  hub.publish(events(1, 3));
  assert.deepEqual(ids(hub.since(0)), ["e1", "e2", "e3"]);
  hub.publish(events(4, 4));
  assert.deepEqual(ids(hub.since(0)), ["e3", "e4", "e5", "e6", "e7"]);
  assert.deepEqual(hub.since(0).map((e) => e.seq), [3, 4, 5, 6, 7]);
  assert.deepEqual(ids(hub.since(5)), ["e6", "e7"], "after Last-Event-ID 5");
});

Deno.test("LiveHub gives a new viewer the buffer, then the tail; a reconnect resumes", () => {
  const hub = new LiveHub(LIVE, { now: () => 0 });
  hub.publish(events(1, 2));
  const viewer = hub.connect(new Map())!;
  hub.publish(events(3, 1));
  assert.deepEqual(ids(viewer.take(10)), ["e1", "e2", "e3"]);
  hub.disconnect(viewer);
  hub.publish(events(4, 1));
  const back = hub.connect(new Map([[0, 3]]))!;
  assert.deepEqual(ids(back.take(10)), ["e4"], "resumes after the last id it saw");
  hub.disconnect(back);
  // An id from before a restart (higher than any now) gets the whole buffer.
  const restarted = hub.connect(new Map([[0, 99]]))!;
  assert.equal(restarted.pending, 4);
  hub.close();
});

Deno.test("LiveHub drops the oldest items of a slow viewer and counts them", () => {
  const hub = new LiveHub(LIVE, { now: () => 0 });
  const viewer = hub.connect(new Map())!;
  hub.publish(events(1, 12));
  assert.equal(viewer.pending, 5, "never more than buffer_events queued");
  assert.equal(viewer.dropped, 7);
  assert.equal(hub.status(viewer).dropped, 7);
  assert.deepEqual(ids(viewer.take(10)), ["e8", "e9", "e10", "e11", "e12"]);
  hub.close();
});

Deno.test("LiveHub refuses a viewer beyond max_viewers, and close() ends every viewer", () => {
  const hub = new LiveHub(LIVE, { now: () => 0 });
  const a = hub.connect(new Map())!;
  const b = hub.connect(new Map())!;
  assert.equal(hub.connect(new Map()), null);
  hub.close();
  assert.equal(a.closed && b.closed, true);
  assert.equal(hub.viewers, 0);
});

Deno.test("LiveHub samples above max_events_per_s and reports kept of seen", () => {
  let now = 0;
  const hub = new LiveHub({ ...LIVE, buffer_events: 1000, max_events_per_s: 10 }, {
    now: () => now,
  });
  hub.publish(events(0, 100));
  assert.equal(hub.since(0).length, 10, "at most 10 in the first second");
  now = 1000;
  hub.publish(events(100, 100));
  const second = hub.since(10);
  assert.equal(second.length, 10);
  // Spread over the second (every 10th), not the first ten.
  assert.deepEqual(ids(second).slice(0, 2), ["e109", "e119"]);
  now = 2000;
  const viewer = hub.connect(new Map())!;
  assert.deepEqual(hub.status(viewer).accepted, { seen: 100, kept: 10 });
  now = 4000;
  assert.deepEqual(hub.status(viewer).accepted, { seen: 0, kept: 0 }, "idle seconds count 0");
  hub.close();
});

Deno.test("LiveHub samples rejections on their own budget", () => {
  const hub = new LiveHub({ ...LIVE, max_events_per_s: 1, max_rejections_per_s: 2 }, {
    now: () => 0,
  });
  hub.publish(events(0, 5));
  const kept = [0, 1, 2].map(() => hub.keepRejection());
  assert.deepEqual(kept, [true, true, false]);
  hub.reject(new Rejection("t", "GET", "/x", 404, "r1", null));
  assert.equal(hub.since(0).length, 2, "one event and one rejection");
});

Deno.test("Sampler keeps everything below its rate", () => {
  const sampler = new Sampler(100);
  let kept = 0;
  for (let i = 0; i < 100; i++) if (sampler.keep(5)) kept++;
  assert.equal(kept, 100);
  assert.deepEqual(sampler.lastSecond(1005), { seen: 100, kept: 100 });
});

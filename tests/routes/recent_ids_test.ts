import assert from "node:assert/strict";
import { RecentIds } from "../../routes/recent_ids.ts";

Deno.test("RecentIds holds an id for its window, then forgets it", () => {
  const ids = new RecentIds({ windowMs: 1000, maxIds: 10 });
  ids.add("a", 0, true);
  assert.equal(ids.get("a", 999), true);
  assert.equal(ids.get("a", 1000), undefined, "the window is half-open");
  ids.add("b", 1500, true);
  assert.equal(ids.size, 1, "an add sweeps expired ids");
  assert.equal(ids.stats().earlyEvictions, 0, "expiry is not an early eviction");
});

Deno.test("RecentIds drops the oldest past its count bound and counts early evictions", () => {
  const ids = new RecentIds({ windowMs: 1000, maxIds: 3 });
  for (const [i, id] of ["a", "b", "c", "d"].entries()) ids.add(id, i, true);
  assert.equal(ids.get("a", 10), undefined, "the oldest went first");
  assert.deepEqual(["b", "c", "d"].map((id) => ids.get(id, 10)), [true, true, true]);
  assert.deepEqual(ids.stats(), { held: 3, earlyEvictions: 1 });
  ids.add("b", 20, true); // renewed: now the newest
  ids.add("e", 21, true);
  assert.equal(ids.get("c", 30), undefined);
  assert.equal(ids.get("b", 30), true);
  // Past the window, dropping for the count is no early eviction.
  ids.resize({ windowMs: 5, maxIds: 3 });
  ids.add("f", 100, true);
  assert.equal(ids.stats().earlyEvictions, 2);
  assert.equal(ids.stats().held, 1);
});

Deno.test("RecentIds with maxIds 0 holds nothing", () => {
  const ids = new RecentIds({ windowMs: 1000, maxIds: 0 });
  ids.add("a", 0, true);
  assert.equal(ids.get("a", 1), undefined);
  assert.equal(ids.size, 0);
});

Deno.test("RecentIds keeps both bounds over many adds, past its queue's compaction", () => {
  const ids = new RecentIds({ windowMs: 50_000, maxIds: 1000 });
  for (let i = 0; i < 20_000; i++) {
    ids.add(`id-${i}`, i, true);
    if (i % 7 === 0) ids.add(`id-${i - 3}`, i, true); // a renewal leaves a stale place behind
  }
  assert.equal(ids.size, 1000);
  assert.equal(ids.get("id-19999", 20_000), true);
  assert.equal(ids.get("id-18999", 20_000), undefined, "the count bound took the oldest");
  ids.sweep(200_000);
  assert.equal(ids.size, 0, "every id expires");
});

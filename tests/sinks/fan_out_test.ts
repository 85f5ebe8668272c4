import assert from "node:assert/strict";
import { FanOut } from "../../sinks/fan_out.ts";
import { MemorySink } from "../../sinks/memory.ts";
import { SinkUnavailableError } from "../../sinks/contract.ts";
import type { Event, Sink } from "../../sinks/mod.ts";
import { waitFor } from "../_testing.ts";

Deno.test("FanOut.write() delivers every event to every sink", async () => {
  const a = new MemorySink("a");
  const b = new MemorySink("b");
  await new FanOut([a, b], { timeoutMs: 1000 }).write([{ event_id: "1" }, { event_id: "2" }]);
  assert.deepEqual(a.events, b.events);
  assert.equal(a.events.length, 2);
});

Deno.test("FanOut.write() fails when any sink fails, as SinkUnavailableError", async () => {
  const a = new MemorySink("a");
  const broken: Sink = {
    name: "broken",
    write: () => Promise.reject(new Error("boom")),
    close: () => Promise.resolve(),
    health: () => Promise.resolve({ ok: true }),
  };
  const fanOut = new FanOut([a, broken], { timeoutMs: 1000 });
  await assert.rejects(fanOut.write([{ event_id: "1" }]), (e: unknown) => {
    assert.ok(e instanceof SinkUnavailableError);
    assert.equal(e.message, 'Sink "broken" failed: boom');
    return true;
  });
});

Deno.test("FanOut.write() times out a slow sink", async () => {
  const slow = new MemorySink("slow");
  slow.delayMs = 300;
  await assert.rejects(
    new FanOut([slow], { timeoutMs: 30 }).write([{ event_id: "1" }] as Event[]),
    /did not confirm within 30 ms/,
  );
  assert.deepEqual(slow.events, [], "the answer came from the timeout, not from the sink");
  // The sink's own write settles later; waiting for it leaves no timer behind the test.
  await waitFor(() => slow.events.length === 1, { what: "the slow write to settle" });
});

Deno.test("FanOut.close() closes every sink even when one fails", async () => {
  const a = new MemorySink("a");
  const failing: Sink = {
    name: "f",
    write: () => Promise.resolve(),
    close: () => Promise.reject(new Error("stuck")),
    health: () => Promise.resolve({ ok: true }),
  };
  const c = new MemorySink("c");
  await assert.rejects(new FanOut([a, failing, c], { timeoutMs: 10 }).close(), /stuck/);
  assert.ok(a.closed && c.closed);
});

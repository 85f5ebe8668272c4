import assert from "node:assert/strict";
import { createStdoutSink } from "../../sinks/stdout.ts";
import { SinkUnavailableError } from "../../sinks/contract.ts";
import type { Event } from "../../sinks/mod.ts";
import { waitFor } from "../_testing.ts";

class CollectingWriter {
  chunks: string[] = [];
  writes = 0;
  /** Calls of write(), counted before the gate: a flush that reached stdout. */
  calls = 0;
  gate: Promise<void> = Promise.resolve();
  failWith: Error | null = null;
  async write(bytes: Uint8Array): Promise<number> {
    this.calls++;
    await this.gate;
    if (this.failWith) throw this.failWith;
    this.writes++;
    // Accept at most 7 bytes per call to exercise partial writes.
    const n = Math.min(7, bytes.length);
    this.chunks.push(new TextDecoder().decode(bytes.subarray(0, n)));
    return n;
  }
  get text() {
    return this.chunks.join("");
  }
}

Deno.test("createStdoutSink() writes one JSON line per event, exactly the event", async () => {
  const out = new CollectingWriter();
  const sink = createStdoutSink({ max_pending_bytes: 1 << 20 }, out);
  const events: Event[] = [
    { event_id: "a", host: 'evil\n{"forged":true}', strength: 3, vip: false, note: null },
    { event_id: "b", description: "große Axt 🪓" },
  ];
  await sink.write(events);
  const lines = out.text.split("\n");
  assert.equal(lines.pop(), "", "the output ends with a newline");
  assert.deepEqual(lines.map((l) => JSON.parse(l)), events);
  assert.equal(lines.length, 2, "a newline in a value cannot forge a line");
  await sink.close();
});

Deno.test("createStdoutSink() resolves a write only after its bytes were written, in groups", async () => {
  const out = new CollectingWriter();
  let open!: () => void;
  out.gate = new Promise((r) => (open = r));
  const sink = createStdoutSink({ max_pending_bytes: 1 << 20 }, out);
  let settled = 0;
  const writes = Array.from(
    { length: 50 },
    (_, i) => sink.write([{ event_id: `e${i}` }]).then(() => settled++),
  );
  await waitFor(() => out.calls > 0, { what: "a flush to reach the held stdout" });
  assert.equal(settled, 0, "nothing is acknowledged before stdout took it");
  open();
  await Promise.all(writes);
  assert.equal(out.text.split("\n").length - 1, 50);
  assert.ok(out.writes < 50 * 5, `group commit keeps writes few: ${out.writes}`);
});

Deno.test("createStdoutSink() refuses writes past max_pending_bytes and reports a broken stdout", async () => {
  const out = new CollectingWriter();
  let open!: () => void;
  out.gate = new Promise((r) => (open = r));
  const sink = createStdoutSink({ max_pending_bytes: 200 }, out);
  const first = sink.write([{ event_id: "x".repeat(150) }]);
  // The first flush now holds "x", stuck on stdout.
  await waitFor(() => out.calls > 0, { what: "the first flush to reach the held stdout" });
  const second = sink.write([{ event_id: "y".repeat(150) }]);
  const third = sink.write([{ event_id: "z".repeat(150) }]);
  await assert.rejects(third, SinkUnavailableError);
  open();
  await Promise.all([first, second]);
  out.failWith = new Error("EPIPE");
  await assert.rejects(sink.write([{ event_id: "w" }]), /Cannot write to stdout: Error: EPIPE/);
  assert.equal((await sink.health()).ok, false);
  out.failWith = null;
  await sink.write([{ event_id: "v" }]);
  assert.deepEqual(await sink.health(), { ok: true });
});

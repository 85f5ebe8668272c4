import assert from "node:assert/strict";
import { LineRelay } from "../../ops/_relay.ts";

const encoder = new TextEncoder();

/** A stream of `chunks`, each handed over after the previous one was read. */
function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    async pull(controller) {
      await new Promise((r) => setTimeout(r, 1));
      if (i < chunks.length) controller.enqueue(encoder.encode(chunks[i++]));
      else controller.close();
    },
  });
}

Deno.test("LineRelay copies whole lines only, whatever the chunks of two streams", async () => {
  const writes: string[] = [];
  // A writer that takes 3 bytes per call, so every write is partial.
  const out = {
    async write(bytes: Uint8Array) {
      await new Promise((r) => setTimeout(r, 0));
      const n = Math.min(3, bytes.length);
      writes.push(new TextDecoder().decode(bytes.subarray(0, n)));
      return n;
    },
  };
  const relay = new LineRelay(out);
  await Promise.all([
    relay.relay(streamOf(['{"a":', '1}\n{"a":2}\n{"a"', ":3}\n"])),
    relay.relay(streamOf(['{"b":1}\n{"b":', "2}\n", '{"b":3}'])),
  ]);
  const lines = writes.join("").split("\n");
  assert.deepEqual(lines.filter((l) => l.startsWith('{"a"')), ['{"a":1}', '{"a":2}', '{"a":3}']);
  assert.deepEqual(lines.filter((l) => l.startsWith('{"b"')), ['{"b":1}', '{"b":2}', '{"b":3}']);
  assert.equal(lines.length, 6, writes.join(""));
});

Deno.test("LineRelay cancels a stream whose output broke", async () => {
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    pull: (c) => c.enqueue(encoder.encode("line\n")),
    cancel: () => void (cancelled = true),
  });
  const broken = { write: () => Promise.reject(new Error("Broken pipe")) };
  await new LineRelay(broken).relay(stream);
  assert.ok(cancelled);
});

import assert from "node:assert/strict";
import { lastEventId, sseMessages } from "../../live/stream.ts";

Deno.test("lastEventId() reads one worker's sequence number or every worker's", () => {
  assert.deepEqual(lastEventId(null, 0), new Map());
  assert.deepEqual(lastEventId("42", 1), new Map([[1, 42]]));
  assert.deepEqual(lastEventId("0:12,1:40", 1), new Map([[0, 12], [1, 40]]));
  for (const bad of ["", "x", "-1", "0:1,", "1:2:3", "9".repeat(16)]) {
    assert.deepEqual(lastEventId(bad, 0), new Map(), bad);
  }
});

Deno.test("sseMessages() parses messages split anywhere across chunks", async () => {
  const text = 'retry: 1000\n\nevent: status\ndata: {"a":1}\n\nid: 0:3\ndata: {"b":2}\n\n';
  const bytes = new TextEncoder().encode(text);
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      // One byte at a time: every boundary falls inside a chunk somewhere.
      for (const byte of bytes) controller.enqueue(new Uint8Array([byte]));
      controller.close();
    },
  });
  const messages = [];
  for await (const message of sseMessages(body)) messages.push(message);
  assert.deepEqual(messages, [
    { event: "status", id: undefined, data: '{"a":1}' },
    { event: "message", id: "0:3", data: '{"b":2}' },
  ]);
});

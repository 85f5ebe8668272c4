import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import pino from "pino";
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

Deno.test("createStdoutSink() writes the bytes pino writes for the event, byte for byte", async () => {
  const chunks: Uint8Array[] = [];
  const out = {
    write: (bytes: Uint8Array) => Promise.resolve(chunks.push(bytes.slice()) && bytes.length),
  };
  const sink = createStdoutSink({ max_pending_bytes: 1 << 20 }, out);
  const events: Event[] = [
    { event_id: "a", host: 'q"uo\\te\t\r\n\u0000\u001f\u007f', strength: -0, ratio: 1e21 },
    { event_id: "b", text: "große Axt 🪓 \u2028\u2029 lone \ud800 surrogate", ok: true },
    { event_id: "c", nan: NaN, inf: Infinity, big: 2 ** 53, tiny: 5e-324 },
    { event_id: "d", long: "x".repeat(5000) + '"' + "é".repeat(300), empty: "", nil: null },
  ];
  await sink.write(events);
  await sink.close();
  // pino as the sink used it: no level, time or pid, the leading comma removed.
  const lines: string[] = [];
  const logger = pino(
    { base: null, timestamp: false, formatters: { level: () => ({}) } },
    { write: (line: string) => lines.push(line.startsWith("{,") ? "{" + line.slice(2) : line) },
  );
  for (const event of events) logger.info(event);
  assert.equal(new TextDecoder().decode(Buffer.concat(chunks)), lines.join(""));
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

Deno.test("createStdoutSink() writes synchronously to a writer that never waits, partial writes included", async () => {
  const chunks: string[] = [];
  const out = {
    write: () => Promise.reject(new Error("the asynchronous path was taken")),
    writeSync(bytes: Uint8Array) {
      const n = Math.min(5, bytes.length);
      chunks.push(new TextDecoder().decode(bytes.subarray(0, n)));
      return n;
    },
  };
  const sink = createStdoutSink({ max_pending_bytes: 1 << 20 }, out);
  const events: Event[] = [{ event_id: "a", n: 1 }, { event_id: "b", n: 2 }];
  await Promise.all([sink.write([events[0]!]), sink.write([events[1]!])]);
  await sink.close();
  assert.deepEqual(chunks.join("").split("\n").filter(Boolean).map((l) => JSON.parse(l)), events);
});

Deno.test("stdoutNeverWaits() is true for /dev/null and a regular file, false for a pipe and another device, with no permission", async () => {
  const dir = await Deno.makeTempDir();
  const probe = `${dir}/probe.ts`;
  await Deno.writeTextFile(
    probe,
    `import { stdoutNeverWaits } from ${
      JSON.stringify(new URL("../../sinks/stdout.ts", import.meta.url).href)
    }; console.error(stdoutNeverWaits());`,
  );
  /** What the probe, run with no permission, says with its stdout sent where `redirect` sends it. */
  const answer = async (redirect: string) => {
    const { stderr } = await new Deno.Command("sh", {
      args: ["-c", `"$0" run --no-prompt "$1" ${redirect}`, Deno.execPath(), probe],
      stderr: "piped",
    }).output();
    return new TextDecoder().decode(stderr).trim();
  };
  try {
    assert.equal(await answer("> /dev/null"), "true");
    assert.equal(await answer(`> '${dir}/out.ndjson'`), "true");
    assert.equal(await answer("| cat > /dev/null"), "false");
    // A character device other than /dev/null, as a terminal is.
    assert.equal(await answer("> /dev/zero"), "false");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

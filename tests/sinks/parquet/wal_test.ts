import assert from "node:assert/strict";
import pino from "pino";
import { NO_SINK_METRICS } from "../../../sinks/contract.ts";
import type { Event } from "../../../sinks/mod.ts";
import type { GroupCommit } from "../../../sinks/_group_commit.ts";
import type { SegmentRows } from "../../../sinks/parquet/rows.ts";
import { type LogItem, type Segment, SegmentLog } from "../../../sinks/parquet/wal.ts";

/**
 * A log file that keeps a copy of each write's bytes as they are when written
 * (asynchronously: once `release` is called) and holds each fsync until then.
 */
function heldFile() {
  const written: Uint8Array[] = [];
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  const file = {
    async write(bytes: Uint8Array) {
      await held;
      written.push(bytes.slice());
      return bytes.length;
    },
    writeSync(bytes: Uint8Array) {
      written.push(bytes.slice());
      return bytes.length;
    },
    syncData: () => held,
  };
  return { file: file as unknown as Deno.FsFile, written, release };
}

function segment(id: string, file: Deno.FsFile): Segment {
  const rows = { add() {}, drained: () => Promise.resolve() } as unknown as SegmentRows;
  return {
    id,
    path: `${id}.wal`,
    file,
    rows,
    bytes: 0,
    durable: 0,
    broken: false,
    openedAt: 0,
    commit: undefined as unknown as GroupCommit<LogItem>,
  };
}

function item(text: string): LogItem {
  return { text, tables: ["t"], events: [{ event_id: text } as Event] };
}

Deno.test("two segments flushing at once (a roll) each write their own lines", async () => {
  const log = new SegmentLog(".", NO_SINK_METRICS, pino({ level: "silent" }), () => {});
  const a = heldFile();
  const b = heldFile();
  // Segment a's flush is still in flight when segment b encodes its lines.
  const first = log.append(segment("a", a.file), [item('["t",{"n":"a1"}]\n')]);
  const second = log.append(segment("b", b.file), [item('["t",{"n":"b1"}]\n')]);
  a.release();
  b.release();
  await Promise.all([first, second]);
  const text = (chunks: Uint8Array[]) => chunks.map((c) => new TextDecoder().decode(c)).join("");
  assert.equal(text(a.written), '["t",{"n":"a1"}]\n');
  assert.equal(text(b.written), '["t",{"n":"b1"}]\n');
});

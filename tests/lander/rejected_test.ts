/**
 * The lander's `_rejected` table with `segment.unknown_events: store`: the
 * gateway's stored messages land there with their own columns (and where the
 * lander read them), beside the lander's own rejects, over real range files.
 */
import assert from "node:assert/strict";
import { PartitionBuffer, type RawRecord } from "../../lander/buffer.ts";
import { LandedIds } from "../../lander/dedup.ts";
import { RangeFiles } from "../../lander/files.ts";
import { emptyStats } from "../../lander/stats.ts";
import { sinkActions } from "../../config/mod.ts";
import { openLake } from "../../query/mod.ts";
import { lakeTables, ParquetEncoder } from "../../sinks/parquet/mod.ts";
import { configFrom } from "../_testing.ts";

const YAML = (unknownEvents: string) => `
sinks: [stdout]
segment: { enabled: true, unknown_events: ${unknownEvents} }
actions:
  - name: declare_peace
    table: declarations
`;

/** A message the gateway stored, as the Kafka sink writes it. */
const STORED = {
  event_id: "5c1c1e7e-1111-4222-8333-444455556666",
  event_type: "_rejected",
  action: "_rejected",
  received_at: "2026-11-23T10:00:00.000Z",
  client_ip: "203.0.113.9",
  request_id: "req-1",
  message_id: "m-1",
  user_id: "u1",
  anonymous_id: null,
  raw: '{"type":"track","event":"Dragon Slain","userId":"u1","messageId":"m-1"}',
  topic: null,
  partition: null,
  offset: null,
  reason: 'unknown event "Dragon Slain"',
  record_time: null,
};

const record = (offset: number, value: unknown): RawRecord => ({
  offset,
  value: new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value)),
  timestamp: BigInt(Date.UTC(2026, 10, 23, 10, 0, 1)),
});

async function land(unknownEvents: string, records: RawRecord[]) {
  const config = configFrom(YAML(unknownEvents));
  const lake = await Deno.makeTempDir({ prefix: "herald-rejected-" });
  const encoder = new ParquetEncoder();
  const stats = emptyStats();
  try {
    const files = new RangeFiles({
      lake,
      compression: "zstd",
      encoder,
      actions: new Map(sinkActions(config).map((a) => [a.name, a])),
      columns: lakeTables(config),
      tables: new Set(["declarations"]),
      stats,
      landed: new LandedIds({ windowMs: 3_600_000, maxIds: 100 }),
    });
    await files.write(new PartitionBuffer("herald._rejected", 2, 0, null), {
      first: 0,
      last: records.length - 1,
    }, records);
  } finally {
    encoder.close();
  }
  return { lake, stats };
}

Deno.test("with store, a stored message lands in _rejected with its columns, once", async () => {
  const { lake, stats } = await land("store", [
    record(0, STORED),
    record(1, "not json {"),
    record(2, STORED),
  ]);
  const db = await openLake(lake);
  try {
    const { rows } = await db.run(
      `select reason, raw, event_id, request_id, message_id, topic, partition, "offset",
              strftime(record_time, '%H:%M:%S'), strftime(received_at, '%H:%M:%S')
       from _rejected order by "offset"`,
    );
    assert.deepEqual(rows.map((r) => r.map((v) => typeof v === "bigint" ? Number(v) : v)), [
      [
        STORED.reason,
        STORED.raw,
        STORED.event_id,
        "req-1",
        "m-1",
        "herald._rejected",
        2,
        0,
        "10:00:01",
        "10:00:00",
      ],
      [
        rows[1]![0],
        "not json {",
        null,
        null,
        null,
        "herald._rejected",
        2,
        1,
        "10:00:01",
        "10:00:01",
      ],
    ]);
    assert.match(String(rows[1]![0]), /^value is not JSON/);
    assert.equal(stats.duplicates, 1, "the repeat of the stored message's id is dropped");
    assert.equal(stats.rejected, 1, "only the lander's own reject counts as rejected");
  } finally {
    db.close();
    await Deno.remove(lake, { recursive: true });
  }
});

Deno.test("with reject, _rejected keeps the lander's columns and a stored message is unknown", async () => {
  const { lake } = await land("reject", [record(0, STORED)]);
  const db = await openLake(lake);
  try {
    const { rows } = await db.run("select reason from _rejected");
    assert.deepEqual(rows, [['unknown action "_rejected"']]);
    const columns = await db.describe();
    const names = columns.rows.filter((r) => r[0] === "_rejected").map((r) => r[1]);
    assert.deepEqual(names.filter((n) => n !== "dt" && n !== "hour"), [
      "raw",
      "topic",
      "partition",
      "offset",
      "reason",
      "record_time",
    ]);
  } finally {
    db.close();
    await Deno.remove(lake, { recursive: true });
  }
});

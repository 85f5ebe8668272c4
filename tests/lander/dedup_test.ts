/** The lander's dedup window over real range files (no broker): Parquet written and read back. */
import assert from "node:assert/strict";
import pino from "pino";
import { PartitionBuffer, type RawRecord } from "../../lander/buffer.ts";
import { LandedIds } from "../../lander/dedup.ts";
import { RangeFiles } from "../../lander/files.ts";
import { emptyStats, type LanderStats } from "../../lander/stats.ts";
import { openLake } from "../../query/mod.ts";
import { lakeTables, ParquetEncoder } from "../../sinks/parquet/mod.ts";
import { shippedConfig } from "../_testing.ts";

const config = await shippedConfig();
const logger = pino({ level: "silent" });

function record(offset: number, eventId: string): RawRecord {
  const event = {
    event_id: eventId,
    event_type: "join_guild",
    action: "join_guild",
    received_at: "2026-11-23T10:00:00.000Z",
    guild: "owls",
  };
  return { offset, value: new TextEncoder().encode(JSON.stringify(event)), timestamp: 0n };
}

/** Range files of the shipped config's tables in `lake`, deduplicating with `landed`. */
function rangeFiles(lake: string, encoder: ParquetEncoder, landed: LandedIds, stats: LanderStats) {
  return new RangeFiles({
    lake,
    compression: "zstd",
    encoder,
    actions: new Map(config.actions.map((a) => [a.name, a])),
    columns: lakeTables(config),
    tables: null,
    stats,
    landed,
  });
}

async function lakeIds(lake: string): Promise<string[]> {
  const db = await openLake(lake);
  try {
    const result = await db.run("select event_id from joins order by event_id");
    return result.rows.map((r) => String(r[0]));
  } finally {
    db.close();
  }
}

Deno.test("RangeFiles drops repeats landed in other ranges, keeps a rebuilt range's own rows, and a restart remembers", async () => {
  const lake = await Deno.makeTempDir({ prefix: "herald-dedup-" });
  const encoder = new ParquetEncoder();
  const stats = emptyStats();
  const files = (landed: LandedIds) => rangeFiles(lake, encoder, landed, stats);
  try {
    const from = new PartitionBuffer("events", 0, 0, null);
    const landed = new LandedIds({ windowMs: 3_600_000, maxIds: 100 });
    const first = [record(0, "a"), record(1, "b"), record(2, "a")];
    await files(landed).write(from, { first: 0, last: 2 }, first);
    assert.equal(stats.duplicates, 1, "a repeat within a range");
    // The same range rebuilt (a crash before its commit): its rows are its own, not repeats.
    await files(landed).write(from, { first: 0, last: 2 }, first);
    assert.deepEqual(await lakeIds(lake), ["a", "b"]);
    await files(landed).write(from, { first: 3, last: 4 }, [record(3, "b"), record(4, "c")]);
    assert.deepEqual(await lakeIds(lake), ["a", "b", "c"]);
    assert.equal(stats.duplicates, 3);

    // A new lander (a restart) fills its window from the lake's recent lander files.
    const restarted = new LandedIds({ windowMs: 3_600_000, maxIds: 100 });
    await restarted.seed(lake, lakeTables(config).keys(), logger);
    assert.equal(restarted.stats().held, 3);
    await files(restarted).write(from, { first: 5, last: 6 }, [record(5, "a"), record(6, "d")]);
    assert.deepEqual(await lakeIds(lake), ["a", "b", "c", "d"]);
    // Rebuilding range 3 after the restart still keeps its own row "c".
    await files(restarted).write(from, { first: 3, last: 4 }, [record(3, "b"), record(4, "c")]);
    assert.deepEqual(await lakeIds(lake), ["a", "b", "c", "d"]);

    // Files older than the window are not read.
    const short = new LandedIds({ windowMs: 1000, maxIds: 100 }, () => Date.now() + 10_000);
    await short.seed(lake, lakeTables(config).keys(), logger);
    assert.equal(short.stats().held, 0);
  } finally {
    encoder.close();
    await Deno.remove(lake, { recursive: true });
  }
});

Deno.test("offsets read again cut into other ranges (a reset group) lose no landed row", async () => {
  const lake = await Deno.makeTempDir({ prefix: "herald-dedup-" });
  const encoder = new ParquetEncoder();
  const landed = new LandedIds({ windowMs: 3_600_000, maxIds: 100 });
  const files = rangeFiles(lake, encoder, landed, emptyStats());
  try {
    const from = new PartitionBuffer("events", 0, 0, null);
    const rows = ["a", "b", "c", "d", "e", "f"].map((id, offset) => record(offset, id));
    await files.write(from, { first: 0, last: 3 }, rows.slice(0, 4));
    await files.write(from, { first: 4, last: 5 }, rows.slice(4));
    // The same offsets again, in ranges cut elsewhere: every row is a repeat.
    await files.write(from, { first: 0, last: 1 }, rows.slice(0, 2));
    await files.write(from, { first: 2, last: 5 }, rows.slice(2));
    assert.deepEqual(await lakeIds(lake), ["a", "b", "c", "d", "e", "f"]);
  } finally {
    encoder.close();
    await Deno.remove(lake, { recursive: true });
  }
});

Deno.test("LandedIds with maxIds 0 lands every repeat", () => {
  const landed = new LandedIds({ windowMs: 1000, maxIds: 0 });
  assert.equal(landed.enabled, false);
  landed.landed(["a"], "f1");
  assert.equal(landed.landedElsewhere("a", "f2"), false);
});

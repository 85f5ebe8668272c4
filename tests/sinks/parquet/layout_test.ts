import assert from "node:assert/strict";
import pino from "pino";
import { openLake } from "../../../query/mod.ts";
import { sinkOptions } from "../../../sinks/contract.ts";
import { createParquetSink, parquetSink } from "../../../sinks/parquet/mod.ts";
import { logLayout } from "../../../sinks/parquet/layout.ts";
import type { Event, WorkerSlot } from "../../../sinks/mod.ts";
import { configFrom } from "../../_testing.ts";

const silent = pino({ level: "silent" });
const config = configFrom(`
actions:
  - name: join
    table: joins
    fields:
      guild: { type: string }
`);

function event(i: number): Event {
  return {
    event_id: `e${i}`,
    event_type: "join",
    action: "join",
    received_at: new Date(Date.UTC(2026, 10, 23, 10, 0, i)).toISOString(),
    guild: `g${i}`,
  };
}

async function listFiles(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) out.push(...await listFiles(path, base));
    else out.push(path.slice(base.length + 1));
  }
  return out.sort();
}

async function eventIds(lake: string): Promise<string[]> {
  const db = await openLake(lake);
  try {
    return (await db.run("select event_id from joins order by event_id")).rows.map(String);
  } finally {
    db.close();
  }
}

/** Writes events `from` to `to` (excluded) through a sink of `worker`, then closes it. */
async function writeAs(dir: string, worker: WorkerSlot | undefined, from: number, to: number) {
  const opts = { ...sinkOptions(config, parquetSink), dir };
  const sink = await createParquetSink(opts, { config, logger: silent, worker });
  for (let i = from; i < to; i++) await sink.write([event(i)]);
  return sink;
}

Deno.test("createParquetSink() of worker i of n logs to _wal/w<i> and tags its lake files", async () => {
  const dir = await Deno.makeTempDir();
  const sinks = await Promise.all([
    writeAs(dir, { index: 0, count: 2 }, 0, 3),
    writeAs(dir, { index: 1, count: 2 }, 3, 5),
  ]);
  const wal = await listFiles(`${dir}/_wal`);
  assert.equal(wal.length, 2, wal.join("\n"));
  assert.match(wal[0]!, /^w0\/w0-\d{13}-\d{6}\.wal$/);
  assert.match(wal[1]!, /^w1\/w1-\d{13}-\d{6}\.wal$/);
  await Promise.all(sinks.map((s) => s.close()));
  const files = (await listFiles(dir)).filter((f) => f.endsWith(".parquet"));
  assert.equal(files.length, 2, files.join("\n"));
  assert.match(files[0]!, /^joins\/dt=2026-11-23\/hour=10\/herald-w0-\d{13}-\d{6}-0\.parquet$/);
  assert.match(files[1]!, /^joins\/dt=2026-11-23\/hour=10\/herald-w1-\d{13}-\d{6}-0\.parquet$/);
  assert.deepEqual(await eventIds(dir), ["e0", "e1", "e2", "e3", "e4"]);
});

Deno.test("createParquetSink() with one worker keeps the untagged names of _wal", async () => {
  const dir = await Deno.makeTempDir();
  const sink = await writeAs(dir, { index: 0, count: 1 }, 0, 1);
  assert.match((await listFiles(`${dir}/_wal`))[0]!, /^\d{13}-\d{6}\.wal$/);
  await sink.close();
  const [file] = (await listFiles(dir)).filter((f) => f.endsWith(".parquet"));
  assert.match(file!, /\/herald-\d{13}-\d{6}-0\.parquet$/);
});

Deno.test("createParquetSink() of worker 0 replays the logs no current worker owns, under their own names", async () => {
  const dir = await Deno.makeTempDir();
  // Left by a crash of a run with 4 workers (w3) and of a run with one (the root).
  const line = (i: number) => `["joins",${JSON.stringify(event(i))}]\n`;
  await Deno.mkdir(`${dir}/_wal/w3`, { recursive: true });
  await Deno.writeTextFile(`${dir}/_wal/w3/w3-0000000000001-000001.wal`, line(0) + line(1));
  await Deno.writeTextFile(`${dir}/_wal/0000000000002-000001.wal`, line(2));
  // Worker 1 of 2 owns none of them.
  await (await writeAs(dir, { index: 1, count: 2 }, 3, 3)).close();
  assert.deepEqual(await listFiles(dir).then((f) => f.filter((n) => n.endsWith(".wal"))), [
    "_wal/0000000000002-000001.wal",
    "_wal/w3/w3-0000000000001-000001.wal",
  ]);
  await (await writeAs(dir, { index: 0, count: 2 }, 3, 3)).close();
  const files = await listFiles(dir);
  assert.deepEqual(files.filter((f) => f.endsWith(".wal")), [], "both logs were replayed");
  assert.deepEqual(files.filter((f) => f.endsWith(".parquet")).map((f) => f.split("/").at(-1)), [
    "herald-0000000000002-000001-0.parquet",
    "herald-w3-0000000000001-000001-0.parquet",
  ]);
  assert.deepEqual(await eventIds(dir), ["e0", "e1", "e2"]);
});

Deno.test("createParquetSink() with one worker replays the folders a run with several left", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(`${dir}/_wal/w1`, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/_wal/w1/w1-0000000000001-000001.wal`,
    `["joins",${JSON.stringify(event(7))}]\n`,
  );
  await (await writeAs(dir, undefined, 0, 0)).close();
  assert.deepEqual(await eventIds(dir), ["e7"]);
});

Deno.test("logLayout().ownsTemp(): a worker's own temporary files, and for worker 0 those of no worker", () => {
  const names = [
    ".herald-w0-0000000000001-000001-0.parquet.tmp",
    ".herald-w1-0000000000001-000001-0.parquet.tmp",
    ".herald-w3-0000000000001-000001-0.parquet.tmp",
    ".herald-0000000000001-000001-0.parquet.tmp",
    ".land-events-0-5.parquet.u1.tmp",
  ];
  const owned = (worker?: { index: number; count: number }) =>
    names.filter((n) => logLayout("/lake", worker).ownsTemp(n)).map((n) => n.slice(0, 11));
  assert.deepEqual(owned(), names.map((n) => n.slice(0, 11)));
  assert.deepEqual(owned({ index: 0, count: 2 }), [
    ".herald-w0-",
    ".herald-w3-",
    ".herald-000",
    ".land-event",
  ]);
  assert.deepEqual(owned({ index: 1, count: 2 }), [".herald-w1-"]);
});

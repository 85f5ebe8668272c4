import { sinkOptions } from "../../../sinks/contract.ts";
import assert from "node:assert/strict";
import pino from "pino";
import { DuckDBInstance } from "@duckdb/node-api";
import { openLake } from "../../../query/mod.ts";
import {
  createParquetSink,
  isTempName,
  type ParquetOptions,
  parquetSink,
  parseSegment,
  removeStaleTemps,
  tempPathOf,
} from "../../../sinks/parquet/mod.ts";
import type { Event } from "../../../sinks/mod.ts";
import { configFrom, shippedConfig, startHerald, waitFor } from "../../_testing.ts";

const silent = pino({ level: "silent" });

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) out.push(...await listFiles(path));
    else out.push(path);
  }
  return out.sort();
}

async function query(lake: string, sql: string): Promise<unknown[][]> {
  const db = await openLake(lake);
  try {
    return (await db.run(sql)).rows;
  } finally {
    db.close();
  }
}

const TEST_CONFIG = `
actions:
  - name: buy
    table: purchases
    fields:
      strength: { type: int }
      price: { type: float }
      vip: { type: bool }
      at: { type: timestamp }
      item: { type: enum, values: [sword, axe] }
  - name: join
    table: joins
    fields:
      guild: { type: string }
`;

function event(i: number, action: string, hour: number, extra: Record<string, unknown>): Event {
  return {
    event_id: `e${i}`,
    event_type: action,
    action,
    received_at: new Date(Date.UTC(2026, 10, 23, hour, 0, i)).toISOString(),
    host: i % 3 === 0 ? null : `user${i}.comcast.com`,
    user_agent: "test",
    accept: "*/*",
    client_ip: "127.0.0.1",
    request_id: `r${i}`,
    ...extra,
  } as Event;
}

Deno.test("parseSegment() keeps every complete line and drops a torn last one", () => {
  const text = '["t",{"event_id":"a"}]\n["u",{"event_id":"b"}]\n["t",{"event_id":"c"}]\n["t",{"eve';
  const rows: [string, unknown][] = [];
  parseSegment(text, (table, event) => rows.push([table, event.event_id]));
  assert.deepEqual(rows, [["t", "a"], ["u", "b"], ["t", "c"]]);
});

Deno.test("createParquetSink() rolls typed, Hive-partitioned files that DuckDB reads back", async () => {
  const dir = await Deno.makeTempDir();
  const config = configFrom(TEST_CONFIG);
  const opts: ParquetOptions = {
    ...sinkOptions(config, parquetSink),
    dir,
    roll_rows: 10,
  };
  const sink = await createParquetSink(opts, { config, logger: silent });
  for (let i = 0; i < 25; i++) {
    const hour = i < 12 ? 10 : 11;
    await sink.write([
      event(i, "buy", hour, {
        strength: i,
        price: i / 4,
        vip: i % 2 === 0,
        at: "2026-11-01T00:00:00.000Z",
        item: "sword",
      }),
    ]);
  }
  await sink.write([event(100, "join", 10, { guild: "knights" })]);
  await sink.close();

  const files = await listFiles(dir);
  assert.ok(files.every((f) => f.endsWith(".parquet")), `no temp or log files remain: ${files}`);
  assert.ok(files.some((f) => f.includes("/purchases/dt=2026-11-23/hour=10/herald-")));
  assert.ok(files.some((f) => f.includes("/purchases/dt=2026-11-23/hour=11/herald-")));
  assert.ok(files.filter((f) => f.includes("/purchases/")).length >= 3, "rolled by roll_rows");

  const db = await openLake(dir);
  try {
    assert.deepEqual(db.tables, ["joins", "purchases"]);
    const described = await db.run("describe purchases");
    const types = Object.fromEntries(described.rows.map((r) => [r[0], r[1]]));
    assert.equal(types.strength, "BIGINT");
    assert.equal(types.price, "DOUBLE");
    assert.equal(types.vip, "BOOLEAN");
    assert.equal(types.received_at, "TIMESTAMP WITH TIME ZONE");
    assert.equal(types.at, "TIMESTAMP WITH TIME ZONE");
    assert.equal(types.item, "VARCHAR");
    assert.equal(types.host, "VARCHAR");
    const stats = await db.run(
      "select count(*), sum(strength), count(host), count(distinct event_id), min(hour), max(hour) from purchases",
    );
    assert.deepEqual(stats.rows[0]!.map(Number), [25, 300, 16, 25, 10, 11]);
    const joins = await db.run("select guild, strftime(dt, '%Y-%m-%d') from joins");
    assert.deepEqual(joins.rows, [["knights", "2026-11-23"]]);
  } finally {
    db.close();
  }
});

Deno.test("createParquetSink() replays a leftover log into the same files, never twice", async () => {
  const dir = await Deno.makeTempDir();
  const config = configFrom(TEST_CONFIG);
  const opts = { ...sinkOptions(config, parquetSink), dir };
  const first = await createParquetSink(opts, { config, logger: silent });
  for (let i = 0; i < 5; i++) await first.write([event(i, "join", 10, { guild: `g${i}` })]);
  // A crash after the files were renamed but before the log was removed: keep a copy of the log.
  const [wal] = await listFiles(`${dir}/_wal`);
  const copy = await Deno.readFile(wal!);
  await first.close();
  const filesBefore = await listFiles(dir);
  await Deno.writeFile(wal!, copy);

  const second = await createParquetSink(opts, { config, logger: silent });
  await second.close();
  assert.deepEqual(await listFiles(dir), filesBefore, "the replay rewrote the same file");
  assert.deepEqual((await query(dir, "select count(*) from joins"))[0]!.map(Number), [5]);
});

Deno.test("serve lands every seed action in the lake with typed columns", async () => {
  const herald = await startHerald(["--sinks", "parquet"]);
  const paths = [
    "/",
    "/purchase_a_sword?sword_type=short",
    "/purchase_a_knife",
    "/purchase_an_axe",
    "/purchase_a_shield",
    "/join_guild?guild=knights",
    "/join_a_guild",
    "/declare_peace",
    "/declare_a_war?target=orcs",
  ];
  for (const path of paths) {
    const res = await fetch(herald.url + path);
    assert.equal(res.status, 200, path);
    await res.body?.cancel();
  }
  assert.equal((await herald.stop()).code, 0, herald.stderr());
  const db = await openLake(herald.lake);
  try {
    assert.deepEqual(db.tables, ["declarations", "default", "joins", "purchases"]);
    const purchases = await db.run(
      "select event_type, count(*), min(strength) >= 0, max(strength) <= 10 from purchases group by 1 order by 1",
    );
    assert.deepEqual(purchases.rows.map((r) => [r[0], Number(r[1]), r[2], r[3]]), [
      ["purchase_axe", 1, true, true],
      ["purchase_knife", 1, true, true],
      ["purchase_shield", 1, true, true],
      ["purchase_sword", 1, true, true],
    ]);
    const types = Object.fromEntries(
      (await db.run("describe purchases")).rows.map((r) => [r[0], r[1]]),
    );
    assert.equal(types.strength, "BIGINT", "no cast needed, unlike the seeds' varchar strength");
    assert.equal(types.dt, "DATE");
    assert.equal(types.hour, "INTEGER");
    const avg = await db.run("select avg(strength) from purchases");
    assert.equal(typeof avg.rows[0]![0], "number");
    assert.deepEqual(
      (await db.run("select sword_type from purchases where event_type = 'purchase_sword'")).rows,
      [["short"]],
    );
    assert.deepEqual((await db.run("select guild from joins order by guild")).rows, [[
      "adventurers",
    ], ["knights"]]);
    assert.deepEqual(
      (await db.run("select target from declarations order by target nulls last")).rows,
      [["orcs"], [null]],
    );
    const today = new Date().toISOString().slice(0, 10);
    const partitions = await db.run("select distinct strftime(dt, '%Y-%m-%d') from purchases");
    assert.deepEqual(partitions.rows, [[today]]);
  } finally {
    db.close();
  }
});

Deno.test("serve killed with SIGKILL under load loses no acknowledged event and leaves no broken file", async () => {
  const lake = await Deno.makeTempDir({ prefix: "herald-lake-" });
  const acked: string[] = [];
  for (let round = 0; round < 2; round++) {
    const herald = await startHerald(["--sinks", "parquet"], { env: { HERALD_LAKE: lake } });
    let running = true;
    const workers = Array.from({ length: 8 }, async () => {
      while (running) {
        try {
          const res = await fetch(`${herald.url}/purchase_a_sword`);
          await res.body?.cancel();
          if (res.status === 200) acked.push(res.headers.get("x-request-id")!);
        } catch {
          // the connection died with the process: not acknowledged
        }
      }
    });
    // Kill it mid-load, once this round had events acknowledged.
    const before = acked.length;
    await waitFor(() => acked.length >= before + 100, {
      what: "100 acknowledged events this round",
      timeoutMs: 60_000,
      detail: herald.stderr,
    });
    await herald.stop("SIGKILL");
    running = false;
    await Promise.all(workers);
  }
  // A clean start replays the log; a clean stop rolls everything into Parquet.
  const herald = await startHerald(["--sinks", "parquet"], { env: { HERALD_LAKE: lake } });
  const status = await herald.stop();
  assert.equal(status.code, 0, `exit ${status.code} signal ${status.signal}: ${herald.stderr()}`);
  assert.match(herald.stderr(), /replayed the write-ahead log/);

  assert.ok(acked.length > 100, `load ran: ${acked.length} acknowledged`);
  const rows = await query(lake, "select request_id, count(*) from purchases group by 1");
  const counts = new Map(rows.map((r) => [r[0] as string, Number(r[1])]));
  const missing = acked.filter((id) => !counts.has(id));
  assert.deepEqual(missing, [], `${missing.length} of ${acked.length} acknowledged events missing`);
  const duplicated = [...counts].filter(([, n]) => n > 1);
  assert.deepEqual(duplicated, [], "no event twice");
  const files = await listFiles(lake);
  for (const file of files) {
    assert.ok(file.endsWith(".parquet"), `only Parquet files remain: ${file}`);
    const n = await query(lake, `select count(*) from read_parquet('${file}')`);
    assert.ok(Number(n[0]![0]) > 0, file);
  }
  console.error(
    `kill -9 drill: ${acked.length} acknowledged, all found once, ${files.length} files readable`,
  );
});

Deno.test("shipped config: the lake is the default sink list with stdout", async () => {
  const config = await shippedConfig();
  assert.deepEqual(config.sinks, ["stdout", "parquet"]);
});

Deno.test("createParquetSink() recreates a lake folder deleted under it, and loses nothing", async () => {
  const dir = await Deno.makeTempDir();
  const config = configFrom(TEST_CONFIG);
  const opts = { ...sinkOptions(config, parquetSink), dir, roll_rows: 5 };
  const sink = await createParquetSink(opts, { config, logger: silent });
  for (let i = 0; i < 3; i++) await sink.write([event(i, "buy", 10, { item: "sword" })]);
  await Deno.remove(dir, { recursive: true });
  // Past roll_rows: the roll must open a new log segment in a folder that is gone.
  for (let i = 3; i < 12; i++) await sink.write([event(i, "buy", 10, { item: "sword" })]);
  assert.equal((await sink.health()).ok, true, JSON.stringify(await sink.health()));
  await sink.close();
  const db = await openLake(dir);
  try {
    const { rows } = await db.run("select count(*), count(distinct event_id) from purchases");
    assert.deepEqual(rows[0]!.map(Number), [12, 12]);
  } finally {
    db.close();
  }
  await Deno.remove(dir, { recursive: true });
});

/**
 * The files a Hadoop-style reader (Spark, Hive, Trino) reads from a table
 * folder: it lists every partition folder and skips names starting with `.`
 * or `_`, whatever their extension.
 */
async function visibleFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.startsWith(".") || entry.name.startsWith("_")) continue;
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) out.push(...await visibleFiles(path));
    else out.push(path);
  }
  return out.sort();
}

Deno.test("temporary file names are hidden, and only stale ones are removed at start", async () => {
  assert.equal(tempPathOf("/l/t/dt=1/a.parquet"), "/l/t/dt=1/.a.parquet.tmp");
  assert.equal(tempPathOf("/l/t/dt=1/a.parquet", "u1"), "/l/t/dt=1/.a.parquet.u1.tmp");
  for (
    const name of [".a.parquet.tmp", ".a.parquet.u1.tmp", "a.parquet.tmp", "a.parquet.9f-2.tmp"]
  ) {
    assert.ok(isTempName(name), name);
  }
  for (const name of ["a.parquet", ".hidden", "notes.tmp.txt"]) assert.ok(!isTempName(name), name);

  const dir = await Deno.makeTempDir();
  const part = `${dir}/purchases/dt=2026-11-23`;
  await Deno.mkdir(part, { recursive: true });
  const old = new Date(Date.now() - 3_600_000);
  for (const name of [".a.parquet.tmp", "b.parquet.tmp", "c.parquet", ".young.parquet.tmp"]) {
    await Deno.writeTextFile(`${part}/${name}`, "partial");
    if (name !== ".young.parquet.tmp") await Deno.utime(`${part}/${name}`, old, old);
  }
  assert.equal(await removeStaleTemps(dir), 2);
  const left = (await Array.fromAsync(Deno.readDir(part))).map((e) => e.name).sort();
  assert.deepEqual(
    left,
    [".young.parquet.tmp", "c.parquet"],
    "a young temp may be a write in progress",
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a reader listing partition folders as Spark does reads every file, mid-write and after a crash", async () => {
  const dir = await Deno.makeTempDir();
  const part = `${dir}/purchases/dt=2026-11-23`;
  await Deno.mkdir(part, { recursive: true });
  // What a crash mid-roll leaves: a partial file under its temporary name.
  const leftover = `${part}/.herald-crashed-0.parquet.tmp`;
  await Deno.writeTextFile(leftover, "PAR1 torn");
  const old = new Date(Date.now() - 3_600_000);
  await Deno.utime(leftover, old, old);

  const config = configFrom(TEST_CONFIG);
  const opts = { ...sinkOptions(config, parquetSink), dir, roll_rows: 5 };
  const sink = await createParquetSink(opts, { config, logger: silent });
  await assert.rejects(Deno.stat(leftover), Deno.errors.NotFound, "the crash-left file is gone");

  const reader = await (await DuckDBInstance.create(":memory:")).connect();
  const count = async (files: string) =>
    Number(
      (await reader.runAndReadAll(`select count(*) from read_parquet(${files})`)).getRows()[0]![0],
    );
  let reads = 0;
  const readAll = async () => {
    for (const file of await visibleFiles(`${dir}/purchases`)) {
      assert.ok(await count(`'${file}'`) > 0, file);
      reads++;
    }
  };
  try {
    let writing = true;
    const writes = (async () => {
      for (let i = 0; i < 60; i++) await sink.write([event(i, "buy", 10, { item: "sword" })]);
      writing = false;
    })();
    while (writing) await readAll();
    await writes;
    await sink.close();
    await readAll();
    assert.ok(reads > 0, "files were read");
    const files = await visibleFiles(`${dir}/purchases`);
    assert.ok(files.every((f) => f.endsWith(".parquet")), files.join("\n"));
    assert.equal(await count(`[${files.map((f) => `'${f}'`).join(", ")}]`), 60);
  } finally {
    reader.closeSync();
    await Deno.remove(dir, { recursive: true });
  }
});

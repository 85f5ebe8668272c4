import assert from "node:assert/strict";
import pino from "pino";
import { sinkOptions } from "../../../sinks/contract.ts";
import { openLake } from "../../../query/mod.ts";
import { createParquetSink, type ParquetOptions, parquetSink } from "../../../sinks/parquet/mod.ts";
import type { Event } from "../../../sinks/mod.ts";
import { configFrom, waitFor } from "../../_testing.ts";

const silent = pino({ level: "silent" });

const CONFIG = configFrom(`
actions:
  - name: join
    table: joins
    fields:
      guild: { type: string }
      rank: { type: int }
`);

function join(i: number, extra: Record<string, unknown> = {}): Event {
  return {
    event_id: `e${String(i).padStart(3, "0")}`,
    event_type: "join_guild",
    action: "join",
    // Across seconds, so the parse of each second's time is not reused for the next.
    received_at: new Date(Date.UTC(2026, 10, 23, 10, 0, 0, i * 97)).toISOString(),
    host: i % 4 === 0 ? null : `user${i}.comcast.com`,
    user_agent: "test",
    accept: "*/*",
    client_ip: "127.0.0.1",
    request_id: `r${i}`,
    guild: i % 5 === 0 ? "épée ⚔" : `g${i}`,
    // Past 32 bits, negative too: both words of an int64.
    rank: i % 3 === 0 ? null : i % 2 === 0 ? i : -i * 1e10,
    ...extra,
  } as Event;
}

async function sinkIn(dir: string, overrides: Partial<ParquetOptions>) {
  const opts: ParquetOptions = { ...sinkOptions(CONFIG, parquetSink), dir, ...overrides };
  return await createParquetSink(opts, { config: CONFIG, logger: silent });
}

async function query(dir: string, sql: string): Promise<unknown[][]> {
  const db = await openLake(dir);
  try {
    return (await db.run(sql)).rows;
  } finally {
    db.close();
  }
}

Deno.test("createParquetSink() writes files of roll_rows events in row groups of row_group_rows", async () => {
  const dir = await Deno.makeTempDir();
  const sink = await sinkIn(dir, { roll_rows: 25, row_group_rows: 10 });
  // One write: all in one log segment, whose partition takes three files.
  await sink.write(Array.from({ length: 60 }, (_, i) => join(i)));
  await sink.close();

  const groups = await query(
    dir,
    `select regexp_extract(file_name, '-(\\d+)\\.parquet$', 1)::int as n, row_group_id,
       any_value(row_group_num_rows)
     from parquet_metadata('${dir}/joins/*/*/*.parquet') group by all order by all`,
  );
  assert.deepEqual(groups.map((r) => r.map(Number)), [
    [0, 0, 10],
    [0, 1, 10],
    [0, 2, 5],
    [1, 0, 10],
    [1, 1, 10],
    [1, 2, 5],
    [2, 0, 10],
  ]);
  // Buffers are reused between row groups: every value and null must still be its own.
  const rows = await query(
    dir,
    "select event_id, epoch_ms(received_at), host, guild, rank from joins order by event_id",
  );
  assert.deepEqual(
    rows,
    Array.from({ length: 60 }, (_, i) => {
      const e = join(i);
      const rank = e.rank === null ? null : BigInt(e.rank as number);
      return [e.event_id, BigInt(Date.parse(String(e.received_at))), e.host, e.guild, rank];
    }),
  );
});

Deno.test("createParquetSink() retries a roll that failed part way from the log, losing and duplicating nothing", async () => {
  const dir = await Deno.makeTempDir();
  // A file where the table's folder should be: every file of the table fails.
  await Deno.writeTextFile(`${dir}/joins`, "in the way");
  const sink = await sinkIn(dir, { roll_rows: 30, row_group_rows: 10, roll_interval_ms: 200 });
  for (let i = 0; i < 30; i++) await sink.write([join(i)]);
  const failed = await waitFor(async () => {
    const health = await sink.health();
    return health.ok ? null : health;
  }, { what: "the roll to fail" });
  assert.match(String(failed.detail), /Cannot write Parquet files/);

  await Deno.remove(`${dir}/joins`);
  await waitFor(async () => (await sink.health()).ok, { what: "the retried roll" });
  for (let i = 30; i < 35; i++) await sink.write([join(i)]);
  await sink.close();

  const [stats] = await query(dir, "select count(*), count(distinct event_id) from joins");
  assert.deepEqual(stats!.map(Number), [35, 35]);
});

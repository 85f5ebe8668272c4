/** Tests for query/: DuckDB over a real Parquet lake written by DuckDB. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import {
  formatResult,
  LakeError,
  openLake,
  QueryError,
  type QueryResult,
  quoteIdentifier,
  quoteLiteral,
  runCli,
  USAGE,
} from "../../query/mod.ts";
import { runTask } from "../_testing.ts";

const EVENT_COLUMNS =
  "event_id::VARCHAR AS event_id, event_type::VARCHAR AS event_type, received_at::TIMESTAMPTZ AS received_at";

/** Writes one Parquet file per `[path, select]` under `dir` with a throwaway DuckDB. */
async function writeParquet(dir: string, files: [string, string][]): Promise<void> {
  const instance = await DuckDBInstance.create(":memory:");
  const con = await instance.connect();
  try {
    for (const [path, select] of files) {
      const target = join(dir, path);
      await Deno.mkdir(join(target, ".."), { recursive: true });
      await con.run(`COPY (${select}) TO ${quoteLiteral(target)} (FORMAT parquet)`);
    }
  } finally {
    con.closeSync();
    instance.closeSync();
  }
}

/**
 * A lake with `purchases` (two partitions, 4 rows) and `joins` (1 row), plus
 * what must be ignored: a `.tmp` file of garbage, a `_wal` folder holding
 * garbage `.parquet` files, a `.staging` folder, a folder with an invalid
 * table name, and a table folder with no Parquet file yet.
 */
async function makeLake(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "herald_lake_" });
  await writeParquet(dir, [
    [
      "purchases/dt=2026-11-23/hour=10/part-1.parquet",
      `SELECT ${EVENT_COLUMNS}, strength::BIGINT AS strength, host::VARCHAR AS host FROM (VALUES
        ('p1', 'purchase_sword', '2026-11-23 10:15:00.123+00', 3, 'localhost:5000'),
        ('p2', 'purchase_sword', '2026-11-23 10:20:00+00', 4, NULL),
        ('p3', 'purchase_shield', '2026-11-23 10:59:59.5+00', 2, 'localhost:5000')
      ) AS t(event_id, event_type, received_at, strength, host)`,
    ],
    [
      "purchases/dt=2026-11-24/hour=09/part-1.parquet",
      `SELECT ${EVENT_COLUMNS}, strength::BIGINT AS strength, host::VARCHAR AS host FROM (VALUES
        ('p4', 'purchase_sword', '2026-11-24 09:00:00+00', 5, 'game.example')
      ) AS t(event_id, event_type, received_at, strength, host)`,
    ],
    [
      "joins/dt=2026-11-23/hour=10/part-1.parquet",
      `SELECT ${EVENT_COLUMNS}, guild::VARCHAR AS guild, host::VARCHAR AS host FROM (VALUES
        ('j1', 'join_guild', '2026-11-23 10:30:00+00', 'knights', 'localhost:5000')
      ) AS t(event_id, event_type, received_at, guild, host)`,
    ],
  ]);
  const garbage = new TextEncoder().encode("PAR1 this is not a finished parquet file");
  await Deno.writeFile(join(dir, "purchases/dt=2026-11-23/hour=10/part-2.parquet.tmp"), garbage);
  for (const folder of ["_wal/dt=2026-11-23/hour=10", ".staging/dt=2026-11-23/hour=10"]) {
    await Deno.mkdir(join(dir, folder), { recursive: true });
    await Deno.writeFile(join(dir, folder, "part-1.parquet"), garbage);
  }
  await Deno.writeTextFile(join(dir, "_wal/000001.log"), '["purchases",{}]\n');
  await Deno.mkdir(join(dir, "Bad-Name/dt=2026-11-23/hour=10"), { recursive: true });
  await Deno.writeFile(join(dir, "Bad-Name/dt=2026-11-23/hour=10/part-1.parquet"), garbage);
  await Deno.mkdir(join(dir, "loot/dt=2026-11-23/hour=10"), { recursive: true });
  await Deno.writeTextFile(join(dir, "README"), "not a table\n");
  return dir;
}

/** Opens a fresh lake, runs `fn`, then closes and deletes it. */
async function withLake(
  fn: (lake: Awaited<ReturnType<typeof openLake>>, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await makeLake();
  const lake = await openLake(dir);
  try {
    await fn(lake, dir);
  } finally {
    lake.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs `deno task query ...args` as a user would. */
function runQueryCli(args: string[], env: Record<string, string> = {}) {
  return runTask("query", args, { env });
}

Deno.test("openLake() ignores .tmp files, _wal and folders that are not tables", async () => {
  await withLake(async (lake) => {
    assert.deepEqual(lake.tables, ["joins", "purchases"]);
    const result = await lake.run("select count(*) as n from purchases");
    assert.deepEqual(result.rows, [[4n]]);
  });
});

Deno.test("openLake().run() answers the seeds' Presto questions", async () => {
  await withLake(async (lake) => {
    const types = await lake.run("select distinct event_type from purchases order by 1");
    assert.deepEqual(types.rows, [["purchase_shield"], ["purchase_sword"]]);

    const avg = await lake.run("select avg(strength) from purchases");
    assert.deepEqual(avg.types, ["DOUBLE"]);
    assert.deepEqual(avg.rows, [[3.5]]);

    const counts = await lake.run(
      "select (select count(*) from purchases) as purchases, (select count(*) from joins) as joins",
    );
    assert.deepEqual(counts.columns, ["purchases", "joins"]);
    assert.deepEqual(counts.types, ["BIGINT", "BIGINT"]);
    assert.deepEqual(counts.rows, [[4n, 1n]]);
  });
});

Deno.test("openLake().run() reads hive partitions as dt DATE and hour INTEGER", async () => {
  await withLake(async (lake) => {
    const result = await lake.run(
      "select dt, hour, count(*) as n from purchases group by all order by all",
    );
    assert.deepEqual(result.types, ["DATE", "INTEGER", "BIGINT"]);
    assert.deepEqual(result.rows, [["2026-11-23", 10, 3n], ["2026-11-24", 9, 1n]]);
  });
});

Deno.test("openLake().run() gives timestamps as UTC text", async () => {
  await withLake(async (lake) => {
    const result = await lake.run(
      "select received_at, hour(received_at) as h from purchases where event_id = 'p1'",
    );
    assert.deepEqual(result.types, ["TIMESTAMP WITH TIME ZONE", "BIGINT"]);
    assert.deepEqual(result.rows, [["2026-11-23 10:15:00.123+00", 10n]]);
  });
});

Deno.test("openLake().run() runs several statements and returns the last result", async () => {
  await withLake(async (lake) => {
    const result = await lake.run(
      "create temp table t as select 41 as x; select x + 1 as y from t",
    );
    assert.deepEqual(result, { columns: ["y"], types: ["INTEGER"], rows: [[42]] });
  });
});

Deno.test("openLake().run() rejects bad SQL with DuckDB's message", async () => {
  await withLake(async (lake) => {
    await assert.rejects(lake.run("selec 1"), (error: Error) => {
      assert.ok(error instanceof QueryError);
      assert.match(error.message, /^Parser Error: syntax error at or near "selec"/);
      return true;
    });
    await assert.rejects(lake.run("select * from loot"), (error: Error) => {
      assert.ok(error instanceof QueryError);
      assert.match(error.message, /^Catalog Error: Table with name loot does not exist!/);
      return true;
    });
    await assert.rejects(lake.run("-- nothing"), {
      name: "QueryError",
      message: 'Cannot run "-- nothing": it holds no SQL statement',
    });
  });
});

Deno.test("openLake().run() cannot touch files outside the lake nor unlock that", async () => {
  await withLake(async (lake) => {
    const outside = await Deno.makeTempDir();
    try {
      await assert.rejects(
        lake.run(`copy (select 1) to ${quoteLiteral(join(outside, "x.csv"))}`),
        /Permission Error/,
      );
      await assert.rejects(lake.run("select * from read_csv('/etc/passwd')"), /Permission Error/);
      await assert.rejects(
        lake.run("set enable_external_access = true"),
        /the configuration has been locked/,
      );
      assert.deepEqual([...Deno.readDirSync(outside)], []);
    } finally {
      await Deno.remove(outside, { recursive: true });
    }
  });
});

Deno.test("openLake().describe() lists every column with its type", async () => {
  await withLake(async (lake) => {
    const result = await lake.describe();
    assert.deepEqual(result.columns, ["table", "column", "type"]);
    assert.deepEqual(result.rows, [
      ["joins", "event_id", "VARCHAR"],
      ["joins", "event_type", "VARCHAR"],
      ["joins", "received_at", "TIMESTAMP WITH TIME ZONE"],
      ["joins", "guild", "VARCHAR"],
      ["joins", "host", "VARCHAR"],
      ["joins", "dt", "DATE"],
      ["joins", "hour", "INTEGER"],
      ["purchases", "event_id", "VARCHAR"],
      ["purchases", "event_type", "VARCHAR"],
      ["purchases", "received_at", "TIMESTAMP WITH TIME ZONE"],
      ["purchases", "strength", "BIGINT"],
      ["purchases", "host", "VARCHAR"],
      ["purchases", "dt", "DATE"],
      ["purchases", "hour", "INTEGER"],
    ]);
  });
});

Deno.test("openLake() combines files of one table by column name", async () => {
  const dir = await Deno.makeTempDir({ prefix: "herald_lake_" });
  try {
    await writeParquet(dir, [
      ["events/dt=2026-11-23/hour=10/part-a.parquet", "SELECT 'e1' AS event_id"],
      ["events/dt=2026-11-23/hour=11/part-b.parquet", "SELECT 7::BIGINT AS gold, 'e2' AS event_id"],
    ]);
    const lake = await openLake(dir);
    try {
      const result = await lake.run("select event_id, gold, hour from events order by 1");
      assert.deepEqual(result.rows, [["e1", null, 10], ["e2", 7n, 11]]);
    } finally {
      lake.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openLake() quotes table names and lake paths", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "herald_lake_" });
  const dir = join(tmp, "it's [odd] {lake} *?");
  try {
    await writeParquet(dir, [
      ["order/dt=2026-11-23/hour=10/part-1.parquet", "SELECT 1::BIGINT AS n"],
      ["order/dt=2026-11-23/hour=11/part-1.parquet", "SELECT 2::BIGINT AS n"],
    ]);
    const lake = await openLake(dir);
    try {
      assert.deepEqual(lake.tables, ["order"]);
      const result = await lake.run(`select sum(n) as s from ${quoteIdentifier("order")}`);
      assert.deepEqual(result.rows, [[3n]]);
    } finally {
      lake.close();
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("openLake() rejects a lake with no tables and a missing lake", async () => {
  const dir = await Deno.makeTempDir({ prefix: "herald_lake_" });
  try {
    await Deno.mkdir(join(dir, "_wal"));
    await Deno.mkdir(join(dir, "loot/dt=2026-11-23/hour=10"), { recursive: true });
    await assert.rejects(openLake(dir), {
      name: "LakeError",
      message: `Lake "${dir}" has no tables yet: run deno task serve and send some events`,
    });
    const missing = join(dir, "nope");
    await assert.rejects(openLake(missing), (error: Error) => {
      assert.ok(error instanceof LakeError);
      assert.equal(error.message, `Cannot open lake "${missing}": no such folder`);
      return true;
    });
    await Deno.writeTextFile(join(dir, "file"), "");
    await assert.rejects(openLake(join(dir, "file")), {
      message: `Cannot open lake "${join(dir, "file")}": not a folder`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("formatResult() prints a lake result exactly in each format", async () => {
  await withLake(async (lake) => {
    const result = await lake.run(
      "select event_type, count(*) as n from purchases group by all order by all",
    );
    assert.equal(
      formatResult(result, "table"),
      [
        "   event_type    | n",
        "-----------------+---",
        " purchase_shield | 1",
        " purchase_sword  | 3",
        "(2 rows)",
        "",
      ].join("\n"),
    );
    assert.equal(
      formatResult(result, "json"),
      '[\n  {"event_type":"purchase_shield","n":1},\n  {"event_type":"purchase_sword","n":3}\n]\n',
    );
    assert.equal(
      formatResult(result, "csv"),
      "event_type,n\npurchase_shield,1\npurchase_sword,3\n",
    );
  });
});

Deno.test("formatResult() keeps big integers, nulls and awkward text exact", () => {
  const result: QueryResult = {
    columns: ["name", "big", "name"],
    types: ["VARCHAR", "HUGEINT", "VARCHAR"],
    rows: [
      ['a, "b"', 12345678901234567890n, "line\nbreak"],
      [null, -1n, ""],
    ],
  };
  assert.equal(
    formatResult(result, "table"),
    [
      "  name  |         big          |    name",
      "--------+----------------------+-------------",
      ' a, "b" | 12345678901234567890 | line\\nbreak',
      " NULL   |                   -1 |",
      "(2 rows)",
      "",
    ].join("\n"),
  );
  assert.equal(
    formatResult(result, "json"),
    '[\n  {"name":"a, \\"b\\"","big":12345678901234567890,"name:1":"line\\nbreak"},\n' +
      '  {"name":null,"big":-1,"name:1":""}\n]\n',
  );
  assert.equal(
    formatResult(result, "csv"),
    'name,big,name\n"a, ""b""",12345678901234567890,"line\nbreak"\n,-1,""\n',
  );
});

Deno.test("formatResult() prints empty results and single rows", () => {
  const empty: QueryResult = { columns: ["n"], types: ["BIGINT"], rows: [] };
  assert.equal(formatResult(empty, "table"), " n\n---\n(0 rows)\n");
  assert.equal(formatResult(empty, "json"), "[]\n");
  assert.equal(formatResult(empty, "csv"), "n\n");
  const one: QueryResult = {
    columns: ["ok", "tags"],
    types: ["BOOLEAN", "STRUCT(a BIGINT[])"],
    rows: [[true, { a: [1n, 2n] }]],
  };
  assert.equal(
    formatResult(one, "table"),
    '  ok  |    tags\n------+-------------\n true | {"a":[1,2]}\n(1 row)\n',
  );
  assert.equal(formatResult(one, "json"), '[\n  {"ok":true,"tags":{"a":[1,2]}}\n]\n');
  assert.equal(formatResult(one, "csv"), 'ok,tags\ntrue,"{""a"":[1,2]}"\n');
});

Deno.test("runCli() lists tables with --tables in the chosen format", async () => {
  const dir = await makeLake();
  try {
    const { code, stdout, stderr } = await runCli(["--lake", dir, "--tables", "--format", "csv"]);
    assert.equal(stderr, "");
    assert.equal(code, 0);
    const lines = stdout.split("\n");
    assert.equal(lines[0], "table,column,type");
    assert.ok(lines.includes("purchases,dt,DATE"));
    assert.ok(lines.includes("purchases,hour,INTEGER"));
    assert.ok(lines.includes("purchases,strength,BIGINT"));
    assert.ok(lines.includes("joins,received_at,TIMESTAMP WITH TIME ZONE"));
    assert.equal(lines.length, 16);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runCli() takes the lake from --lake over HERALD_LAKE over the default", async () => {
  const dir = await makeLake();
  try {
    const sql = "select count(*) as n from joins";
    const fromEnv = await runCli(["--format", "csv", sql], { HERALD_LAKE: dir });
    assert.deepEqual(fromEnv, { code: 0, stdout: "n\n1\n", stderr: "" });
    const fromFlag = await runCli(["--lake", dir, "--format", "csv", sql], {
      HERALD_LAKE: join(dir, "nope"),
    });
    assert.deepEqual(fromFlag, { code: 0, stdout: "n\n1\n", stderr: "" });
    const wrongFlag = await runCli(["--lake", join(dir, "nope"), sql], { HERALD_LAKE: dir });
    assert.equal(wrongFlag.code, 1);
    assert.equal(wrongFlag.stderr, `Cannot open lake "${join(dir, "nope")}": no such folder\n`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runCli() rejects bad usage with exit code 2 and prints --help", async () => {
  for (
    const [args, message] of [
      [["--bogus", "select 1"], "Unknown option '--bogus'"],
      [["--format", "xml", "select 1"], 'Unknown format "xml" (expected one of table, json, csv)'],
      [[], "Missing SQL"],
      [["--tables", "select 1"], "Give either SQL or --tables, not both"],
      [["select", "1"], "Expected one SQL argument, got 2: quote the whole statement"],
      [["--lake", "", "select 1"], "Option --lake needs a folder"],
    ] as const
  ) {
    const { code, stdout, stderr } = await runCli([...args]);
    assert.equal(code, 2, args.join(" "));
    assert.equal(stdout, "");
    assert.ok(stderr.startsWith(message), stderr);
    assert.ok(stderr.endsWith(`\n\n${USAGE}\n`));
  }
  assert.deepEqual(await runCli(["--help"]), { code: 0, stdout: `${USAGE}\n`, stderr: "" });
});

Deno.test("deno task query prints results, errors and exit codes as a real process", async () => {
  const dir = await makeLake();
  try {
    // A machine far from UTC: output must not depend on it.
    const env = { HERALD_LAKE: dir, TZ: "Asia/Kolkata" };
    const ok = await runQueryCli(
      ["select event_id, received_at, strength from purchases where dt = date '2026-11-23' order by 1"],
      env,
    );
    assert.equal(ok.stderr, "");
    assert.equal(ok.code, 0);
    assert.equal(
      ok.stdout,
      [
        " event_id |        received_at         | strength",
        "----------+----------------------------+----------",
        " p1       | 2026-11-23 10:15:00.123+00 |        3",
        " p2       | 2026-11-23 10:20:00+00     |        4",
        " p3       | 2026-11-23 10:59:59.5+00   |        2",
        "(3 rows)",
        "",
      ].join("\n"),
    );

    const json = await runQueryCli(
      ["--format", "json", "select avg(strength) as a from purchases"],
      env,
    );
    assert.deepEqual(json, { code: 0, stdout: '[\n  {"a":3.5}\n]\n', stderr: "" });

    const bad = await runQueryCli(["selec 1"], env);
    assert.equal(bad.code, 1);
    assert.equal(bad.stdout, "");
    assert.match(bad.stderr, /^Parser Error: syntax error at or near "selec"/);

    const empty = await Deno.makeTempDir({ prefix: "herald_lake_" });
    try {
      const none = await runQueryCli(["--lake", empty, "select 1"]);
      assert.deepEqual(none, {
        code: 1,
        stdout: "",
        stderr: `Lake "${empty}" has no tables yet: run deno task serve and send some events\n`,
      });
    } finally {
      await Deno.remove(empty);
    }

    const usage = await runQueryCli(["--nope"]);
    assert.equal(usage.code, 2);
    assert.ok(usage.stderr.includes("Usage: deno task query"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

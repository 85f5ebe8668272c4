/**
 * The drills' oracle: reads back what each sink holds (every record of the
 * Kafka topic from the beginning, every row of the lake's `drill` table, the
 * NDJSON lines of stdout) and checks that every obligation (an oid answered
 * 2xx) is there exactly once.
 *
 * @module
 */
import { DuckDBInstance } from "@duckdb/node-api";
import { openLake, TABLE_NAME } from "../../query/mod.ts";
import { readTopics } from "../kafka/read.ts";

/** How many times each oid occurs in one sink. */
export type Counts = Map<string, number>;

/** Every record of `topic`, read from the beginning up to its end offsets, counted by oid. */
export async function kafkaCounts(
  brokers: string,
  topic: string,
  timeoutMs = 60_000,
): Promise<Counts> {
  const counts: Counts = new Map();
  for (const record of await readTopics(brokers, [topic], { timeoutMs })) {
    const oid = String(JSON.parse(record.value).oid);
    counts.set(oid, (counts.get(oid) ?? 0) + 1);
  }
  return counts;
}

/** Every row of the lake's `table`, counted by oid (empty when the table has no file yet). */
export async function lakeCounts(lake: string, table = "drill"): Promise<Counts> {
  const hasTables = (await Array.fromAsync(Deno.readDir(lake))).some((e) =>
    e.isDirectory && TABLE_NAME.test(e.name)
  );
  if (!hasTables) return new Map();
  const db = await openLake(lake);
  try {
    if (!db.tables.includes(table)) return new Map();
    const { rows } = await db.run(`select oid, count(*) from ${table} group by oid`);
    return new Map(rows.map((r) => [String(r[0]), Number(r[1])]));
  } finally {
    db.close();
  }
}

/** The NDJSON event lines of Herald's stdout, counted by oid; bad lines are counted apart. */
export function stdoutCounts(text: string): { counts: Counts; badLines: number } {
  const counts: Counts = new Map();
  let badLines = 0;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    try {
      const oid = String(JSON.parse(line).oid);
      counts.set(oid, (counts.get(oid) ?? 0) + 1);
    } catch {
      badLines++;
    }
  }
  return { counts, badLines };
}

async function walk(dir: string, out: string[] = []): Promise<string[]> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) await walk(path, out);
    else out.push(path);
  }
  return out;
}

/**
 * Every `*.parquet` file of the lake, each read alone by DuckDB: a file
 * without a footer (a partial write under its final name) is unreadable.
 */
export async function checkParquetFiles(
  lake: string,
): Promise<{ files: number; tmpFiles: number; unreadable: string[] }> {
  const all = await walk(lake);
  const parquet = all.filter((f) => f.endsWith(".parquet"));
  const unreadable: string[] = [];
  if (parquet.length > 0) {
    // A bare DuckDB, not openLake: its views would fail on the first bad file.
    const instance = await DuckDBInstance.create(":memory:");
    const con = await instance.connect();
    try {
      for (const file of parquet) {
        try {
          await con.run(`select count(*) from read_parquet('${file.replaceAll("'", "''")}')`);
        } catch (error) {
          unreadable.push(`${file}: ${(error as Error).message.split("\n")[0]}`);
        }
      }
    } finally {
      con.closeSync();
      instance.closeSync();
    }
  }
  return {
    files: parquet.length,
    tmpFiles: all.filter((f) => f.endsWith(".tmp")).length,
    unreadable,
  };
}

/** The oracle's verdict for one sink. */
export interface SinkCheck {
  /** Obligations found at least once. */
  found: number;
  /** Obligations not found. */
  missing: string[];
  /** Obligations found more than once. */
  duplicated: string[];
  /** Oids stored that were not acknowledged (503, refused, cut off): allowed. */
  unacknowledged: number;
}

/** Checks `counts` of one sink against the `obligations`. */
export function checkSink(obligations: ReadonlySet<string>, counts: Counts): SinkCheck {
  const missing: string[] = [];
  const duplicated: string[] = [];
  let found = 0;
  for (const oid of obligations) {
    const n = counts.get(oid) ?? 0;
    if (n === 0) missing.push(oid);
    else found++;
    if (n > 1) duplicated.push(oid);
  }
  let unacknowledged = 0;
  for (const oid of counts.keys()) if (!obligations.has(oid)) unacknowledged++;
  return { found, missing, duplicated, unacknowledged };
}

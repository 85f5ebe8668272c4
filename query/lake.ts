/**
 * `deno task query`: SQL over Herald's Parquet lake with DuckDB, in place of
 * the Presto of the original pipeline.
 *
 * The lake layout is `<lake>/<table>/dt=YYYY-MM-DD/hour=HH/<name>.parquet`.
 * Every folder of the lake whose name matches `^[a-z][a-z0-9_]*$`, and the
 * `_rejected` (the lander's rejects and stored Segment messages), is a table and becomes one view of the same name,
 * reading its Parquet files with hive partitioning: `dt` is a `DATE` column
 * and `hour` an `INTEGER` column, after the columns stored in the files. Other
 * entries are not tables: other folders that start with `_` or `.` (such as
 * `_wal` and `_land`), other names and plain files. Only
 * files ending in `.parquet` two partition folders down are read, so files
 * still being written (hidden `.<name>.tmp`) are never seen.
 *
 * A table folder with no Parquet file yet gets no view: its columns are not
 * known before the first file lands, so querying it fails with DuckDB's
 * "Table with name ... does not exist" until then, and `--tables` leaves it
 * out. Files of one table are combined by column name, so a column added to an
 * action later reads as `NULL` in older files.
 *
 * Queries run in an in-memory DuckDB with the session time zone set to UTC;
 * DuckDB may read only the lake folder (no other file, no network, no writes),
 * and the configuration is locked, so SQL cannot lift that limit. The FFI
 * permission that DuckDB needs bypasses Deno's sandbox, which is why DuckDB's
 * own limit matters.
 *
 * ```sh
 * deno task query "select event_type, count(*) as n from purchases group by all"
 * deno task query --format json "select * from purchases where dt = date '2026-11-23'"
 * deno task query --tables
 * ```
 *
 * As a library:
 *
 * ```ts
 * import { formatResult, openLake } from "../query/mod.ts";
 *
 * const lake = await openLake("lake");
 * try {
 *   console.log(formatResult(await lake.run("select count(*) as n from purchases"), "table"));
 * } finally {
 *   lake.close();
 * }
 * ```
 *
 * The values of a result's rows are described in `results.ts`.
 *
 * @module
 */
import { join } from "node:path";
import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { LakeError } from "./errors.ts";
import { type QueryResult, runStatements } from "./results.ts";
import { findTables } from "./tables.ts";

export { LakeError, QueryError } from "./errors.ts";
export type { QueryResult } from "./results.ts";
export { findTables, TABLE_NAME } from "./tables.ts";

/** The lake folder used when neither `--lake` nor `HERALD_LAKE` is given. */
export const DEFAULT_LAKE = "lake";

/** An open lake: one view per table, over one in-memory DuckDB. */
export interface Lake {
  /** The lake folder, as given to {@linkcode openLake}. */
  dir: string;
  /** The tables that have a view, sorted. */
  tables: string[];
  /**
   * Runs `sql` (one statement, or several separated by `;`, which run in order)
   * and returns the result of the last statement. Rejects with a
   * {@linkcode QueryError} carrying DuckDB's message.
   */
  run(sql: string): Promise<QueryResult>;
  /** Every column of every table: columns `table`, `column`, `type`. */
  describe(): Promise<QueryResult>;
  /** Closes the DuckDB connection and database; the lake cannot be used afterwards. */
  close(): void;
}

/** Quotes a SQL identifier: `order` becomes `"order"`. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quotes a SQL string literal: `it's` becomes `'it''s'`. */
export function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** Escapes DuckDB glob characters so that a folder name matches only itself. */
function escapeGlob(path: string): string {
  return path.replace(/[*?[\]{}]/g, (c) => `[${c}]`);
}

const DESCRIBE_SQL = `SELECT table_name AS "table", column_name AS "column", data_type AS "type"
FROM information_schema.columns
WHERE table_catalog = current_database() AND table_schema = 'main'
ORDER BY table_name, ordinal_position`;

/**
 * Opens the lake at `dir`: one view per table with Parquet files. Throws
 * {@linkcode LakeError} when the folder is missing, has no table yet, or a
 * table's files cannot be read.
 */
export async function openLake(dir: string): Promise<Lake> {
  const tables = await findTables(dir);
  if (tables.length === 0) {
    throw new LakeError(
      `Lake "${dir}" has no tables yet: run deno task serve and send some events`,
    );
  }
  const root = await Deno.realPath(dir);
  const instance = await DuckDBInstance.create(":memory:");
  let con: DuckDBConnection | undefined;
  try {
    con = await instance.connect();
    await con.run("SET TimeZone = 'UTC'");
    for (const table of tables) {
      const glob = join(escapeGlob(root), table, "dt=*", "hour=*", "*.parquet");
      try {
        await con.run(
          `CREATE VIEW ${quoteIdentifier(table)} AS SELECT * FROM read_parquet(${
            quoteLiteral(glob)
          }, hive_partitioning = true, hive_types = {'dt': DATE, 'hour': INTEGER}, union_by_name = true)`,
        );
      } catch (error) {
        throw new LakeError(
          `Cannot open table "${table}" in lake "${dir}": ${(error as Error).message}`,
          { cause: error },
        );
      }
    }
    // DuckDB checks a glob pattern's text against these prefixes, so the
    // escaped spelling of the lake folder is allowed too.
    const allowed = [...new Set([join(root, "/"), join(escapeGlob(root), "/")])];
    await con.run(`SET allowed_directories = [${allowed.map(quoteLiteral).join(", ")}]`);
    await con.run("SET enable_external_access = false");
    await con.run("SET lock_configuration = true");
  } catch (error) {
    con?.closeSync();
    instance.closeSync();
    throw error;
  }
  const connection = con;
  let closed = false;
  return {
    dir,
    tables,
    run: (sql) => runStatements(connection, sql),
    describe: () => runStatements(connection, DESCRIBE_SQL),
    close() {
      if (closed) return;
      closed = true;
      connection.closeSync();
      instance.closeSync();
    },
  };
}

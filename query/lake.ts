/**
 * `deno task query`: SQL over Herald's Parquet lake with DuckDB, in place of
 * the Presto of the original pipeline.
 *
 * The lake layout is `<lake>/<table>/dt=YYYY-MM-DD/hour=HH/<name>.parquet`.
 * Every folder of the lake whose name matches `^[a-z][a-z0-9_]*$`, and the
 * lander's `_rejected`, is a table and becomes one view of the same name,
 * reading its Parquet files with hive partitioning: `dt` is a `DATE` column
 * and `hour` an `INTEGER` column, after the columns stored in the files. Other
 * entries are not tables: other folders that start with `_` or `.` (such as
 * `_wal` and `_land`), other names and plain files. Only
 * files ending in `.parquet` two partition folders down are read, so files
 * still being written (`*.tmp`) are never seen.
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
 * Values in {@linkcode QueryResult.rows}: `null`, booleans, numbers (`INTEGER`,
 * `DOUBLE`, ...), `bigint` (`BIGINT`, `HUGEINT` and their unsigned kinds, so
 * `count(*)` is a `bigint`), strings (`VARCHAR`, `DECIMAL`, `DATE`, `UUID`,
 * timestamps as DuckDB prints them, e.g. `2026-11-23 10:15:00.123+00`, and
 * `NaN`/`Infinity` doubles), arrays (`LIST`, `ARRAY`) and objects (`STRUCT`;
 * a `MAP` is an array of `{key, value}`).
 *
 * @module
 */
import { join } from "node:path";
import {
  type DuckDBConnection,
  DuckDBInstance,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  DuckDBTypeId,
  type DuckDBValueConverter,
  type Json,
  JsonDuckDBValueConverter,
} from "@duckdb/node-api";
/** The lake folder used when neither `--lake` nor `HERALD_LAKE` is given. */
export const DEFAULT_LAKE = "lake";

/**
 * Table names: lake folders with any other name are not tables. `_rejected`
 * is the lander's table of records it could not land.
 */
export const TABLE_NAME = /^(?:[a-z][a-z0-9_]*|_rejected)$/;

/** The columns and rows of one statement's result. */
export interface QueryResult {
  /** Column names, in order (may repeat, as in `select 1 as a, 2 as a`). */
  columns: string[];
  /** DuckDB type of each column, e.g. `BIGINT`, `TIMESTAMP WITH TIME ZONE`. */
  types: string[];
  /** One array per row, one value per column (see the module doc for the value kinds). */
  rows: unknown[][];
}

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

/** The lake folder is missing, not a folder, has no table yet, or a table cannot be read. */
export class LakeError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LakeError";
  }
}

/** DuckDB refused or failed a statement; the message is DuckDB's own. */
export class QueryError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "QueryError";
  }
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

async function readDirNames(
  dir: string,
  keep: (entry: Deno.DirEntry) => boolean,
): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) if (keep(entry)) names.push(entry.name);
  return names.sort();
}

/** Whether `tableDir` holds at least one `dt=*` / `hour=*` / `*.parquet` file. */
async function hasParquetFiles(tableDir: string): Promise<boolean> {
  const isDir = (prefix: string) => (e: Deno.DirEntry) =>
    e.isDirectory && e.name.startsWith(prefix);
  for (const dt of await readDirNames(tableDir, isDir("dt="))) {
    for (const hour of await readDirNames(join(tableDir, dt), isDir("hour="))) {
      const parts = await readDirNames(
        join(tableDir, dt, hour),
        (e) => e.isFile && e.name.endsWith(".parquet") && !/^[._]/.test(e.name),
      );
      if (parts.length > 0) return true;
    }
  }
  return false;
}

/**
 * The tables of the lake at `dir` that hold at least one Parquet file, sorted.
 * Throws {@linkcode LakeError} when `dir` is missing or not a folder.
 */
export async function findTables(dir: string): Promise<string[]> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new LakeError(`Cannot open lake "${dir}": no such folder`);
    }
    throw error;
  }
  if (!info.isDirectory) throw new LakeError(`Cannot open lake "${dir}": not a folder`);
  const candidates = await readDirNames(dir, (e) => e.isDirectory && TABLE_NAME.test(e.name));
  const tables: string[] = [];
  for (const table of candidates) {
    if (await hasParquetFiles(join(dir, table))) tables.push(table);
  }
  return tables;
}

/** Integer types whose values stay `bigint`. */
const BIG_INTEGERS: ReadonlySet<DuckDBTypeId> = new Set([
  DuckDBTypeId.BIGINT,
  DuckDBTypeId.UBIGINT,
  DuckDBTypeId.HUGEINT,
  DuckDBTypeId.UHUGEINT,
]);

type Cell = Json | bigint | Cell[] | { [key: string]: Cell };

/**
 * `TIMESTAMP WITH TIME ZONE` as UTC text. The library formats these values in
 * the process's local offset, whatever DuckDB's `TimeZone` setting says.
 */
function utcTimestamp(value: DuckDBTimestampTZValue): string {
  const text = new DuckDBTimestampValue(value.micros).toString();
  return text.endsWith("infinity") ? text : `${text}+00`;
}

const toCell: DuckDBValueConverter<Cell> = (value, type, converter) => {
  if (value === null) return null;
  if (BIG_INTEGERS.has(type.typeId) && typeof value === "bigint") return value;
  if (value instanceof DuckDBTimestampTZValue) return utcTimestamp(value);
  return JsonDuckDBValueConverter(value, type, converter as DuckDBValueConverter<Json>);
};

const EXTRACT_PREFIX = "Failed to extract statements: ";

async function runStatements(con: DuckDBConnection, sql: string): Promise<QueryResult> {
  let statements;
  try {
    statements = await con.extractStatements(sql);
  } catch (error) {
    const message = (error as Error).message;
    if (message.startsWith(EXTRACT_PREFIX)) {
      throw new QueryError(message.slice(EXTRACT_PREFIX.length), { cause: error });
    }
    throw new QueryError(`Cannot run ${JSON.stringify(sql)}: it holds no SQL statement`, {
      cause: error,
    });
  }
  try {
    for (let i = 0; i < statements.count - 1; i++) {
      const prepared = await statements.prepare(i);
      try {
        await prepared.run();
      } finally {
        prepared.destroySync();
      }
    }
    const prepared = await statements.prepare(statements.count - 1);
    try {
      const reader = await prepared.runAndReadAll();
      return {
        columns: reader.columnNames(),
        types: reader.columnTypes().map(String),
        rows: reader.convertRows(toCell),
      };
    } finally {
      prepared.destroySync();
    }
  } catch (error) {
    if (error instanceof QueryError) throw error;
    throw new QueryError((error as Error).message, { cause: error });
  }
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

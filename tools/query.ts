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
 * import { formatResult, openLake } from "../tools/query.ts";
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
import { parseArgs } from "node:util";
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

/** The output formats of {@linkcode formatResult}. */
export const FORMATS = ["table", "json", "csv"] as const;

/** One of {@linkcode FORMATS}. */
export type OutputFormat = typeof FORMATS[number];

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

/** JSON text of a cell; `bigint` becomes a JSON number with every digit kept. */
function jsonText(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return `[${value.map(jsonText).join(",")}]`;
  if (typeof value === "object") {
    const fields = Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}:${jsonText(v)}`);
    return `{${fields.join(",")}}`;
  }
  return JSON.stringify(value);
}

/** A cell as plain text: strings as they are, nested values as JSON. */
function plainText(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") {
    return String(value);
  }
  return jsonText(value);
}

/** Column names made unique for JSON keys: a repeated `a` becomes `a:1`, `a:2`, ... */
function uniqueNames(columns: string[]): string[] {
  const used = new Set<string>();
  return columns.map((name) => {
    let unique = name;
    for (let n = 1; used.has(unique); n++) unique = `${name}:${n}`;
    used.add(unique);
    return unique;
  });
}

const NUMERIC_TYPE =
  /^(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|FLOAT|DOUBLE|DECIMAL(\(\d+,\s*\d+\))?)$/;

const CONTROL_ESCAPES: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

function formatTable(result: QueryResult): string {
  const cells = result.rows.map((row) =>
    result.columns.map((_, i) => {
      const value = row[i];
      if (value === null || value === undefined) return "NULL";
      return plainText(value).replace(/[\n\r\t]/g, (c) => CONTROL_ESCAPES[c] ?? c);
    })
  );
  const widths = result.columns.map((name, i) =>
    Math.max(name.length, ...cells.map((row) => row[i]?.length ?? 0))
  );
  const rightAligned = result.columns.map((_, i) => NUMERIC_TYPE.test(result.types[i] ?? ""));
  const line = (parts: string[]) => ` ${parts.join(" | ")}`.trimEnd();
  const header = line(result.columns.map((name, i) => {
    const left = Math.floor(((widths[i] ?? 0) - name.length) / 2);
    return (" ".repeat(left) + name).padEnd(widths[i] ?? 0);
  }));
  const rule = widths.map((w) => "-".repeat(w + 2)).join("+");
  const body = cells.map((row) =>
    line(
      row.map((text, i) =>
        rightAligned[i] ? text.padStart(widths[i] ?? 0) : text.padEnd(widths[i] ?? 0)
      ),
    )
  );
  const count = result.rows.length;
  return [header, rule, ...body, `(${count} ${count === 1 ? "row" : "rows"})`].join("\n") + "\n";
}

function formatJson(result: QueryResult): string {
  if (result.rows.length === 0) return "[]\n";
  const keys = uniqueNames(result.columns).map((k) => JSON.stringify(k));
  const objects = result.rows.map((row) =>
    `  {${keys.map((key, i) => `${key}:${jsonText(row[i])}`).join(",")}}`
  );
  return `[\n${objects.join(",\n")}\n]\n`;
}

function csvField(value: unknown): string {
  if (value === null || value === undefined) return "";
  const text = plainText(value);
  return text === "" || /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function formatCsv(result: QueryResult): string {
  const lines = [result.columns, ...result.rows].map((row) =>
    result.columns.map((_, i) => csvField(row[i])).join(",")
  );
  return lines.join("\n") + "\n";
}

/**
 * Renders `result` as text ending in a newline:
 *
 * - `table`: aligned columns under a centered header, numbers right-aligned,
 *   `NULL` for nulls, newlines and tabs in text shown as `\n` and `\t`, and a
 *   `(N rows)` footer, like Presto's CLI.
 * - `json`: one array of row objects, one row a line; `BIGINT` values are JSON
 *   numbers with every digit; a repeated column name gets `:1`, `:2`, ...
 * - `csv`: a header row, then one line per row; fields with `"`, `,` or line
 *   breaks are quoted with `"` doubled (RFC 4180), `NULL` is an empty field and
 *   an empty string is `""`. Lines end in `\n`.
 */
export function formatResult(result: QueryResult, format: OutputFormat): string {
  switch (format) {
    case "table":
      return formatTable(result);
    case "json":
      return formatJson(result);
    case "csv":
      return formatCsv(result);
  }
}

/** The usage text of `deno task query`. */
export const USAGE = `Usage: deno task query [--lake <dir>] [--format table|json|csv] "<SQL>"
       deno task query [--lake <dir>] [--format table|json|csv] --tables

Runs SQL with DuckDB over Herald's Parquet lake; every table of the lake is a
view with its Parquet columns plus dt (DATE) and hour (INTEGER).

  --lake <dir>     lake folder (default env HERALD_LAKE, else "${DEFAULT_LAKE}")
  --format <name>  table (default), json or csv
  --tables         list every table's columns and types
  --help           this text

Examples:
  deno task query "select distinct event_type from purchases"
  deno task query --format csv "select dt, hour, count(*) as n from purchases group by all order by all"`;

/** What {@linkcode runCli} wants written, and the exit code. */
export interface CliOutcome {
  /** 0 done, 1 lake or SQL error, 2 bad usage. */
  code: number;
  stdout: string;
  stderr: string;
}

function usageError(message: string): CliOutcome {
  return { code: 2, stdout: "", stderr: `${message}\n\n${USAGE}\n` };
}

/**
 * Runs the CLI with `args` (without touching the real stdout, stderr or
 * environment). `env.HERALD_LAKE` is the lake when `--lake` is not given.
 */
export async function runCli(
  args: string[],
  env: { HERALD_LAKE?: string } = {},
): Promise<CliOutcome> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        lake: { type: "string" },
        format: { type: "string", default: "table" },
        tables: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    return usageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { code: 0, stdout: `${USAGE}\n`, stderr: "" };
  const format = values.format as OutputFormat;
  if (!FORMATS.includes(format)) {
    return usageError(`Unknown format "${values.format}" (expected one of ${FORMATS.join(", ")})`);
  }
  if (values.lake === "") return usageError("Option --lake needs a folder");
  if (positionals.length > 1) {
    return usageError(
      `Expected one SQL argument, got ${positionals.length}: quote the whole statement`,
    );
  }
  const sql = positionals[0];
  if (values.tables === (sql !== undefined)) {
    return usageError(values.tables ? "Give either SQL or --tables, not both" : "Missing SQL");
  }
  const dir = values.lake ?? (env.HERALD_LAKE || DEFAULT_LAKE);
  let lake: Lake | undefined;
  try {
    lake = await openLake(dir);
    const result = sql === undefined ? await lake.describe() : await lake.run(sql);
    return { code: 0, stdout: formatResult(result, format), stderr: "" };
  } catch (error) {
    if (error instanceof LakeError || error instanceof QueryError) {
      return { code: 1, stdout: "", stderr: `${error.message}\n` };
    }
    throw error;
  } finally {
    lake?.close();
  }
}

async function writeAll(out: { write(p: Uint8Array): Promise<number> }, text: string) {
  const bytes = new TextEncoder().encode(text);
  for (let done = 0; done < bytes.length;) done += await out.write(bytes.subarray(done));
}

if (import.meta.main) {
  const outcome = await runCli(Deno.args, { HERALD_LAKE: Deno.env.get("HERALD_LAKE") });
  try {
    await writeAll(Deno.stderr, outcome.stderr);
    await writeAll(Deno.stdout, outcome.stdout);
  } catch (error) {
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  }
  Deno.exit(outcome.code);
}

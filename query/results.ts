/**
 * Running SQL on a DuckDB connection, and what its values become in
 * JavaScript.
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
import {
  type DuckDBConnection,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  DuckDBTypeId,
  type DuckDBValueConverter,
  type Json,
  JsonDuckDBValueConverter,
} from "@duckdb/node-api";
import { QueryError } from "./errors.ts";

/** The columns and rows of one statement's result. */
export interface QueryResult {
  /** Column names, in order (may repeat, as in `select 1 as a, 2 as a`). */
  columns: string[];
  /** DuckDB type of each column, e.g. `BIGINT`, `TIMESTAMP WITH TIME ZONE`. */
  types: string[];
  /** One array per row, one value per column (see the module doc for the value kinds). */
  rows: unknown[][];
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

/**
 * Runs the statements of `sql` in order and returns the last one's result.
 * Rejects with a {@linkcode QueryError} carrying DuckDB's message.
 */
export async function runStatements(con: DuckDBConnection, sql: string): Promise<QueryResult> {
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

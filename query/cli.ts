/**
 * The `deno task query` command line as a function: arguments and env in,
 * what to print and the exit code out, so tests run it in-process.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { formatResult, FORMATS, type OutputFormat } from "./format.ts";
import { DEFAULT_LAKE, type Lake, LakeError, openLake, QueryError } from "./lake.ts";

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

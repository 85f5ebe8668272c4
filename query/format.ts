/**
 * Renders a {@linkcode QueryResult} as an aligned table (like Presto's CLI),
 * JSON or CSV.
 *
 * @module
 */
import type { QueryResult } from "./lake.ts";

/** The output formats of {@linkcode formatResult}. */
export const FORMATS = ["table", "json", "csv"] as const;

/** One of {@linkcode FORMATS}. */
export type OutputFormat = typeof FORMATS[number];

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

/**
 * The config reference, generated from the schemas: one table per section
 * (key, default, description), as `docs/config.md` shows it between its
 * `generated:config` markers. Pure: the sections are passed in, so the sinks'
 * own sections come from whoever holds the registry.
 *
 * @module
 */
import type { ConfigSection } from "./sections.ts";
import type { Schema } from "./schema.ts";

/** One row of the reference: a key's full path, its default as shown, its description. */
interface KeyRow {
  key: string;
  default: string;
  doc: string | undefined;
}

/** One section of the reference: its heading, the text under it, and its keys. */
interface SectionRows {
  name: string;
  doc: string | undefined;
  rows: KeyRow[];
}

/** The lines between which `docs/config.md` holds the generated reference. */
const MARKERS = {
  start: "<!-- generated:config:start -->",
  end: "<!-- generated:config:end -->",
} as const;

function nested(schema: Schema<unknown>): Schema<unknown>["shape"] {
  return schema.shape ?? schema.item?.shape;
}

function showDefault(schema: Schema<unknown>): string {
  if (schema.shownDefault !== undefined) return schema.shownDefault;
  if (!schema.fallback) return "(required)";
  const value = schema.fallback();
  if (Array.isArray(value)) return `\`[${value.join(", ")}]\``;
  if (typeof value === "string") {
    return `\`${/^[!-~]+$/.test(value) ? value : JSON.stringify(value)}\``;
  }
  return value === undefined ? "" : String(value);
}

function keyRows(key: string, schema: Schema<unknown>): KeyRow[] {
  const own: KeyRow = { key, default: showDefault(schema), doc: schema.doc };
  const shape = nested(schema);
  if (!shape) return [own];
  const prefix = schema.shape ? key : `${key}[]`;
  return [own, ...Object.entries(shape).flatMap(([name, s]) => keyRows(`${prefix}.${name}`, s))];
}

/**
 * Every key of each section. A section that is a map (or a list of
 * maps, like `actions`) lists its keys, with the section's own doc as the text
 * under its heading; any other section is one row of its own.
 */
function referenceRows(sections: readonly ConfigSection[]): SectionRows[] {
  return sections.map(({ name, options }) => {
    const rows = keyRows(name, options);
    return nested(options)
      ? { name, doc: options.doc, rows: rows.slice(1) }
      : { name, doc: undefined, rows };
  });
}

/** The keys that have no description, as full paths (`server.port`). */
export function undocumentedKeys(sections: readonly ConfigSection[]): string[] {
  return referenceRows(sections).flatMap((s) => s.rows).filter((r) => !r.doc).map((r) => r.key);
}

/** A Markdown table padded as `deno fmt` pads it. */
function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const cell = (text: string) => text.replaceAll("|", "\\|");
  const all = [header, ...rows].map((row) => row.map(cell));
  const widths = header.map((_, i) => Math.max(3, ...all.map((row) => row[i]!.length)));
  const line = (row: readonly string[]) =>
    `| ${row.map((text, i) => text.padEnd(widths[i]!)).join(" | ")} |`;
  const [head, ...body] = all;
  return [line(head!), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}

/** The reference in Markdown: a heading and a table per section. */
export function render(sections: readonly ConfigSection[]): string {
  return referenceRows(sections).map(({ name, doc, rows }) => {
    const body = table(
      ["key", "default", "description"],
      rows.map((r) => [`\`${r.key}\``, r.default, r.doc ?? ""]),
    );
    return [`### \`${name}\``, ...(doc ? [doc] : []), body].join("\n\n");
  }).join("\n\n");
}

/**
 * `markdown` with the text between its `generated:config` markers replaced by
 * the rendered reference. Throws `SyntaxError` when the markers are missing.
 */
export function updateReference(markdown: string, sections: readonly ConfigSection[]): string {
  const start = markdown.indexOf(MARKERS.start);
  const end = markdown.indexOf(MARKERS.end);
  if (start < 0 || end < start) {
    throw new SyntaxError(`Cannot find the markers: "${MARKERS.start}" ... "${MARKERS.end}"`);
  }
  const before = markdown.slice(0, start + MARKERS.start.length);
  return `${before}\n\n${render(sections)}\n\n${markdown.slice(end)}`;
}

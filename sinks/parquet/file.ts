/**
 * Parquet files for the lake: each table's typed columns from the config,
 * Hive-style partition paths, and crash-safe writes (temporary name, fsync,
 * rename, fsync of the folder). The encoding is in `encoder.ts`.
 * Shared by the Parquet sink and the Kafka lander.
 *
 * @module
 */
import { type GatewayConfig, segmentColumns, sinkActions } from "../../config/mod.ts";
import { headerColumn, TIME_COLUMNS } from "../../config/columns.ts";
import { writeAll } from "../io.ts";
import type { FieldType } from "../../config/fields.ts";
import type { Event } from "../contract.ts";

/** A column of a lake table. */
export interface Column {
  name: string;
  type: FieldType;
}

/** Every table of the config with its columns: Herald's columns, then the actions' fields. */
export function lakeTables(config: GatewayConfig): Map<string, Column[]> {
  const base: Column[] = [
    { name: "event_id", type: "string" },
    { name: "event_type", type: "string" },
    { name: "action", type: "string" },
    { name: "received_at", type: "timestamp" },
    { name: "client_time", type: "timestamp" },
    { name: "event_time", type: "timestamp" },
    ...config.enrich.headers.map((h): Column => ({ name: headerColumn(h), type: "string" })),
    { name: "client_ip", type: "string" },
    { name: "request_id", type: "string" },
    ...(config.auth.write_keys.length > 0 ? [{ name: "source", type: "string" } as Column] : []),
    ...segmentColumns(config.segment).map(({ name, type }): Column => ({ name, type })),
  ];
  const tables = new Map<string, Column[]>();
  for (const action of sinkActions(config)) {
    const columns = tables.get(action.table) ?? [...base];
    for (const field of action.fields) {
      if (!columns.some((c) => c.name === field.name)) {
        columns.push({ name: field.name, type: field.type });
      }
    }
    tables.set(action.table, columns);
  }
  return tables;
}

/** Columns for events of a table the config no longer has: Herald's columns typed, the rest as text. */
export function inferColumns(events: readonly Event[]): Column[] {
  const names = new Set<string>();
  for (const e of events) for (const k of Object.keys(e)) names.add(k);
  return [...names].map((name) => ({
    name,
    type: TIME_COLUMNS.has(name) ? "timestamp" : "string",
  }));
}

/** Supported compression codecs, by config name. */
export const COMPRESSIONS = ["zstd", "snappy", "none"] as const;
/** One of {@linkcode COMPRESSIONS}. */
export type CompressionName = typeof COMPRESSIONS[number];

/** The Hive partition of an event: `dt=YYYY-MM-DD/hour=HH` of its `received_at` (UTC). */
export function partitionOf(event: Event): string {
  const at = typeof event.received_at === "string" ? event.received_at : new Date().toISOString();
  return `dt=${at.slice(0, 10)}/hour=${at.slice(11, 13)}`;
}

/** Fsyncs a folder so a rename or unlink inside it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await Deno.open(dir, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}

/**
 * The name `path` is written under before it is renamed into place: in the
 * same folder (so the rename is atomic) and hidden, with a leading `.`, the
 * Hadoop convention that Spark, Hive and Trino follow when they list a
 * partition folder (and that DuckDB's `*.parquet` globs skip as well). `tag`
 * tells apart writers that may race for one path.
 */
export function tempPathOf(path: string, tag?: string): string {
  const slash = path.lastIndexOf("/");
  return `${path.slice(0, slash + 1)}.${path.slice(slash + 1)}${tag ? `.${tag}` : ""}.tmp`;
}

/** Whether a file name is one {@linkcode tempPathOf} makes, or a `*.parquet.tmp` of older versions. */
export function isTempName(name: string): boolean {
  return (name.startsWith(".") && name.endsWith(".tmp")) || /\.parquet(\.[\w-]+)?\.tmp$/.test(name);
}

/** Options of {@linkcode removeStaleTemps}. */
export interface StaleTempOptions {
  /** Only files unchanged for this long go (default 60 000 ms). */
  olderThanMs?: number;
  /** Which temporary files, by name, are the caller's to remove (default: every one). */
  owned?: (name: string) => boolean;
}

/**
 * Removes the temporary files a crash left anywhere under `dir` and returns
 * how many. Only files unchanged for `olderThanMs` go: a writer fills its
 * temporary file, fsyncs and renames it in one go, so a younger one may be
 * another process's write in progress (Herald and the lander may share a
 * lake). Readers skip the younger ones anyway; the next start removes them.
 */
export async function removeStaleTemps(
  dir: string,
  options: StaleTempOptions = {},
): Promise<number> {
  const { olderThanMs = 60_000, owned = () => true } = options;
  let removed = 0;
  const cutoff = Date.now() - olderThanMs;
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return 0;
    throw error;
  }
  for (const entry of entries) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) {
      removed += await removeStaleTemps(path, options);
    } else if (entry.isFile && isTempName(entry.name) && owned(entry.name)) {
      const info = await Deno.stat(path).catch(() => null);
      if (info && (info.mtime?.getTime() ?? 0) < cutoff) {
        await Deno.remove(path).catch(() => {});
        removed++;
      }
    }
  }
  return removed;
}

/**
 * Writes `bytes` to `path` so that no reader ever sees a partial file: first
 * under its hidden temporary name ({@linkcode tempPathOf}), fsynced, then
 * renamed, then the folder fsynced. Rewriting the same path replaces it
 * whole. Writers that may race for one path pass each their own `tag`.
 */
export async function writeFileAtomic(
  path: string,
  bytes: Uint8Array,
  options: { tag?: string } = {},
): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf("/"));
  await Deno.mkdir(dir, { recursive: true });
  const tmp = tempPathOf(path, options.tag);
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
  try {
    await writeAll(file, bytes);
    await file.syncData();
  } catch (error) {
    // A part-written file only takes space (a full disk stays full): remove it.
    file.close();
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
  file.close();
  await renameIntoPlace(tmp, path);
}

/** Renames a complete, fsynced temporary file to `path` and fsyncs the folder. */
export async function renameIntoPlace(tmp: string, path: string): Promise<void> {
  await Deno.rename(tmp, path);
  await syncDir(path.slice(0, path.lastIndexOf("/")));
}

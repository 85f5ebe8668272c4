/**
 * Parquet files for the lake: each table's typed columns from the config, the
 * encoding (apache-arrow in, parquet-wasm out), Hive-style partition paths, and
 * crash-safe writes (temporary name, fsync, rename, fsync of the folder).
 * Shared by the Parquet sink and the Kafka lander.
 *
 * @module
 */
import {
  Bool,
  type DataType,
  Field,
  Float64,
  Int64,
  Schema,
  Table,
  tableToIPC,
  TimestampMillisecond,
  Utf8,
  type Vector,
  vectorFromArray,
} from "apache-arrow";
import {
  Compression,
  Table as WasmTable,
  writeParquet,
  WriterPropertiesBuilder,
} from "parquet-wasm";
import type { GatewayConfig } from "../config/mod.ts";
import { headerColumn } from "../config/columns.ts";
import type { FieldType } from "../config/fields.ts";
import type { Event } from "./mod.ts";

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
    ...config.enrich.headers.map((h): Column => ({ name: headerColumn(h), type: "string" })),
    { name: "client_ip", type: "string" },
    { name: "request_id", type: "string" },
  ];
  const tables = new Map<string, Column[]>();
  for (const action of config.actions) {
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
    type: name === "received_at" ? "timestamp" : "string",
  }));
}

const ARROW_TYPES: Record<FieldType, () => DataType> = {
  string: () => new Utf8(),
  enum: () => new Utf8(),
  int: () => new Int64(),
  float: () => new Float64(),
  bool: () => new Bool(),
  timestamp: () => new TimestampMillisecond("UTC"),
};

function columnValues(column: Column, events: readonly Event[]): unknown[] {
  const values = new Array(events.length);
  for (let i = 0; i < events.length; i++) {
    const v = events[i]![column.name];
    if (v === null || v === undefined) values[i] = null;
    else if (column.type === "int") {
      values[i] = typeof v === "number" ? BigInt(Math.trunc(v)) : null;
    } else if (column.type === "timestamp") values[i] = typeof v === "string" ? Date.parse(v) : v;
    else if (column.type === "string" || column.type === "enum") values[i] = String(v);
    else values[i] = v;
  }
  return values;
}

/** Supported compression codecs, by config name. */
export const COMPRESSIONS = {
  zstd: Compression.ZSTD,
  snappy: Compression.SNAPPY,
  none: Compression.UNCOMPRESSED,
};

/** Encodes events as one Parquet file with the given columns. */
export function encodeParquet(
  columns: readonly Column[],
  events: readonly Event[],
  compression: keyof typeof COMPRESSIONS,
): Uint8Array {
  const schema = new Schema(columns.map((c) => new Field(c.name, ARROW_TYPES[c.type](), true)));
  const vectors: Record<string, Vector> = {};
  for (const column of columns) {
    vectors[column.name] = vectorFromArray(
      columnValues(column, events),
      ARROW_TYPES[column.type](),
    );
  }
  const table = new Table(schema, vectors);
  // WriterProperties are consumed by writeParquet: build new ones for every file.
  const properties = new WriterPropertiesBuilder().setCompression(COMPRESSIONS[compression])
    .build();
  return writeParquet(WasmTable.fromIPCStream(tableToIPC(table, "stream")), properties);
}

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
 * Writes `bytes` to `path` so that no reader ever sees a partial file: first
 * `path.tmp` (which readers' `*.parquet` globs skip), fsynced, then renamed,
 * then the folder fsynced. Rewriting the same path replaces it whole.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf("/"));
  await Deno.mkdir(dir, { recursive: true });
  const tmp = `${path}.tmp`;
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
  try {
    let rest = bytes;
    while (rest.length > 0) rest = rest.subarray(await file.write(rest));
    await file.syncData();
  } finally {
    file.close();
  }
  await Deno.rename(tmp, path);
  await syncDir(dir);
}

/**
 * The files of one range: its records routed to their tables (or
 * `_rejected`), one Parquet file per table partition, named
 * `land-<topic>-<partition>-<first>-<last>.parquet` and written atomically.
 *
 * @module
 */
import type { ActionConfig } from "../config/mod.ts";
import type { Event } from "../sinks/contract.ts";
import {
  type Column,
  ColumnarBuffer,
  type CompressionName,
  type ParquetEncoder,
  partitionOf,
  writeFileAtomic,
} from "../sinks/parquet/mod.ts";
import type { PartitionBuffer, RawRecord } from "./buffer.ts";
import type { Range } from "./claims.ts";
import type { LandedIds } from "./dedup.ts";
import { REJECTED_COLUMNS, REJECTED_TABLE, routeRecord, UTF8_LENIENT } from "./route.ts";
import type { LanderStats } from "./stats.ts";

/** What {@linkcode RangeFiles} writes with, and where. */
export interface RangeFilesOptions {
  lake: string;
  compression: CompressionName;
  encoder: ParquetEncoder;
  /** The configured actions, by name. */
  actions: ReadonlyMap<string, ActionConfig>;
  /** The columns of each lake table. */
  columns: ReadonlyMap<string, readonly Column[]>;
  /** Tables to land; null for all. */
  tables: ReadonlySet<string> | null;
  /** Counts files, rejected, skipped and duplicate records. */
  stats: LanderStats;
  /** Event ids landed recently: their repeats are dropped. */
  landed: LandedIds;
}

/** One table partition's rows of a range, by `<table>/dt=.../hour=...`. */
type TableBuffers = Map<string, { table: string; buffer: ColumnarBuffer }>;

/** Writes the files of ranges: a file's rows are a function of its name. */
export class RangeFiles {
  readonly #options: RangeFilesOptions;

  /** Files in `options.lake`, encoded with `options.encoder`. */
  constructor(options: RangeFilesOptions) {
    this.#options = options;
  }

  /**
   * Writes the files of `range` of the buffer's partition, holding `rows`
   * but for repeats of an event id landed within the dedup window (in
   * another range) or earlier in this one.
   */
  async write(from: PartitionBuffer, range: Range, rows: readonly RawRecord[]): Promise<void> {
    const { lake, encoder, compression, stats, landed } = this.#options;
    const buffers: TableBuffers = new Map();
    const topic = encodeURIComponent(from.topic);
    // The whole range is in the name: a re-read cut at other offsets (a reset
    // group, or claims pruned) writes other files, never over these rows.
    const name = `land-${topic}-${from.partition}-${range.first}-${range.last}.parquet`;
    const ids = landed.enabled ? new Set<string>() : null;
    for (const record of rows) this.#route(from, record, buffers, { name, ids });
    for (const [key, { buffer }] of buffers) {
      const bytes = await encoder.encode(buffer.toTable(), compression);
      // Another lander may write the same file at the same moment (same rows):
      // each writes its own temporary file.
      const path = `${lake}/${key}/${name}`;
      await writeFileAtomic(path, bytes, { tag: crypto.randomUUID() });
      stats.files++;
    }
    if (ids) landed.landed(ids, name);
  }

  /**
   * Routes one record to its table partition's buffer; a repeat of an id in
   * `range.ids` or landed in a file other than `range.name` is dropped.
   */
  #route(
    from: PartitionBuffer,
    record: RawRecord,
    buffers: TableBuffers,
    range: { name: string; ids: Set<string> | null },
  ): void {
    const { actions, columns, tables, stats, landed } = this.#options;
    const routed = routeRecord(record.value, actions);
    let table: string;
    let event: Event;
    if ("rejected" in routed) {
      const time = new Date(Number(record.timestamp)).toISOString();
      table = REJECTED_TABLE;
      event = {
        raw: record.value === null ? null : UTF8_LENIENT.decode(record.value),
        topic: from.topic,
        partition: from.partition,
        offset: record.offset,
        reason: routed.rejected,
        record_time: time,
        received_at: time,
      };
      stats.rejected++;
    } else {
      if (tables && !tables.has(routed.table) && routed.table !== REJECTED_TABLE) {
        stats.skipped++;
        return;
      }
      table = routed.table;
      event = routed.event;
      const id = event.event_id as string;
      if (range.ids) {
        if (range.ids.has(id) || landed.landedElsewhere(id, range.name)) {
          stats.duplicates++;
          return;
        }
        range.ids.add(id);
      }
      if (table === REJECTED_TABLE) {
        // A message the gateway stored: where the lander read it, as for its own rejects.
        event.topic = from.topic;
        event.partition = from.partition;
        event.offset = record.offset;
        event.record_time = new Date(Number(record.timestamp)).toISOString();
      }
    }
    const key = `${table}/${partitionOf(event)}`;
    let entry = buffers.get(key);
    if (!entry) {
      const tableColumns = columns.get(table) ?? REJECTED_COLUMNS;
      entry = { table, buffer: new ColumnarBuffer(tableColumns) };
      buffers.set(key, entry);
    }
    entry.buffer.append(event);
  }
}

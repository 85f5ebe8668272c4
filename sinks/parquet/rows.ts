/**
 * A log segment's events on their way into Parquet files. Each table
 * partition fills one column buffer of a row group's rows at a time; a full
 * buffer is handed to the encoder's worker, which appends it to the
 * partition's current file as a row group, and the buffer is reused. File n
 * of a partition holds its events n * `rollRows` onwards, so a segment's
 * files are the same whether written live or replayed from the log.
 *
 * @module
 */
import type { Event } from "../contract.ts";
import { ColumnarBuffer } from "./columnar.ts";
import type { ParquetEncoder, StreamedFile } from "./encoder.ts";
import { type Column, type CompressionName, partitionOf } from "./file.ts";

/** How a {@linkcode SegmentRows} lays out and writes its files. */
export interface SegmentRowsOptions {
  /** The lake folder. */
  dir: string;
  /** The columns of a file of `table` whose first event is `event`. */
  columnsOf: (table: string, event: Event) => readonly Column[];
  /** Events per file. */
  rollRows: number;
  /** Events per row group: what a column buffer holds at most. */
  rowGroupRows: number;
  compression: CompressionName;
  encoder: ParquetEncoder;
}

/** Bytes of row groups waiting for the worker past which `add`ers are asked to wait. */
const MAX_ENCODING_BYTES = 16 * 1024 * 1024;

interface Partition {
  table: string;
  path: string;
  buffer: ColumnarBuffer | null;
  file: StreamedFile | null;
  n: number;
  inFile: number;
}

/** A segment's events, streamed into `<dir>/<table>/<partition>/herald-<id>-<n>.parquet`. */
export class SegmentRows {
  readonly id: string;
  #o: SegmentRowsOptions;
  // By table, then by the hour of `received_at` ("2026-11-23T10").
  #partitions = new Map<string, Map<string, Partition>>();
  #writes: Promise<unknown>[] = [];
  #error: unknown = null;
  #files = 0;
  /** Events added. */
  count = 0;
  /** Set by {@linkcode finish}: the rows take no more events. */
  finished = false;

  constructor(id: string, options: SegmentRowsOptions) {
    this.id = id;
    this.#o = options;
  }

  /** Adds one event of `table`. */
  add(table: string, event: Event): void {
    let byHour = this.#partitions.get(table);
    if (!byHour) this.#partitions.set(table, byHour = new Map());
    const at = event.received_at;
    const hour = typeof at === "string" ? at.slice(0, 13) : partitionOf(event);
    let part = byHour.get(hour);
    if (!part) {
      const path = `${this.#o.dir}/${table}/${partitionOf(event)}`;
      byHour.set(hour, part = { table, path, buffer: null, file: null, n: 0, inFile: 0 });
    }
    const buffer = part.buffer ??= new ColumnarBuffer(this.#o.columnsOf(table, event));
    buffer.append(event);
    this.count++;
    if (++part.inFile >= this.#o.rollRows) this.#closeFile(part);
    else if (buffer.length >= this.#o.rowGroupRows) this.#ship(part);
  }

  /** Resolves once the encoder is not too far behind to take more row groups. */
  drained(): Promise<void> {
    return this.#o.encoder.drained(MAX_ENCODING_BYTES);
  }

  /** Writes what is buffered, closes every file and renames it into place; resolves with their number. */
  async finish(): Promise<number> {
    this.finished = true;
    for (const byHour of this.#partitions.values()) {
      for (const part of byHour.values()) this.#closeFile(part);
    }
    await Promise.all(this.#writes);
    if (this.#error) throw this.#error;
    return this.#files;
  }

  #ship(part: Partition): void {
    const buffer = part.buffer;
    if (!buffer || buffer.length === 0) return;
    // After a failure the log is read again to write the files: drop the rows.
    if (this.#error) return buffer.drain(() => {});
    const { rowGroupRows, compression, encoder } = this.#o;
    part.file ??= encoder.openFile(`${part.path}/herald-${this.id}-${part.n}.parquet`, {
      compression,
      rowGroupRows,
    });
    const file = part.file;
    this.#track(buffer.drain((table) => file.write(table)));
  }

  #closeFile(part: Partition): void {
    this.#ship(part);
    if (part.file) this.#track(part.file.close().then(() => this.#files++));
    // The next file starts a new buffer: for a table the config no longer
    // has, its columns are those of its first event.
    part.buffer = null;
    part.file = null;
    part.n++;
    part.inFile = 0;
  }

  #track(write: Promise<unknown>): void {
    this.#writes.push(write.catch((error) => this.#error ??= error));
  }
}

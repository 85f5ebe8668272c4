/**
 * The write-ahead log of the Parquet sink: segments in `<dir>/_wal/` (or a
 * worker's folder in it, `layout.ts`), each a
 * file of JSON lines `[table, event]` appended and fsynced by the segment's
 * group commit, with the segment's events streamed into its Parquet files
 * (`rows.ts`). After a crash, the segments left behind are replayed.
 *
 * @module
 */
import type { Logger } from "pino";
import type { GroupCommit } from "../_group_commit.ts";
import { type Event, type SinkMetrics, SinkUnavailableError } from "../contract.ts";
import { discard, writeAllSync } from "../io.ts";
import type { SegmentRows } from "./rows.ts";

/** One write's lines, and its events with the table of each, as its segment's group commit carries them. */
export interface LogItem {
  text: string;
  tables: readonly string[];
  events: readonly Event[];
}

/** A log segment, open for writes. */
export interface Segment {
  id: string;
  path: string;
  file: Deno.FsFile;
  commit: GroupCommit<LogItem>;
  rows: SegmentRows;
  bytes: number;
  /** Length of the file up to the end of its last successful fsync. */
  durable: number;
  /** Set when a failed write could not be cut back: the segment takes no more writes. */
  broken: boolean;
  openedAt: number;
}

const encoder = new TextEncoder();

/**
 * Reads a log segment, calling `onRow` for each logged event. A torn last
 * line (a write that was never acknowledged) is dropped.
 */
export function parseSegment(
  text: string,
  onRow: (table: string, event: Event) => void,
  logger?: Logger,
): void {
  const lines = text.split("\n");
  lines.forEach((line, i) => {
    if (line === "") return;
    let row: [string, Event];
    try {
      row = JSON.parse(line);
    } catch {
      if (i !== lines.length - 1) {
        logger?.error({ line: i + 1 }, "skipping a corrupt write-ahead log line");
      }
      return;
    }
    onRow(row[0], row[1]);
  });
}

/** The log folder: appends to its segments, and replays what a crash left. */
export class SegmentLog {
  readonly walDir: string;
  #metrics: SinkMetrics;
  #logger: Logger;
  #onBroken: () => void;
  /**
   * The encode buffer of every flush. Segments flush independently (a roll
   * overlaps them), so it is filled and written in one synchronous stretch,
   * before the flush awaits anything: no two flushes hold it at once.
   */
  #bytes = new Uint8Array(64 * 1024);
  /** Why the log cannot be written, until the next write that reaches the disk. */
  logError: string | null = null;

  /** `onBroken` is called when a segment takes no more writes and must be rolled. */
  constructor(walDir: string, metrics: SinkMetrics, logger: Logger, onBroken: () => void) {
    this.walDir = walDir;
    this.#metrics = metrics;
    this.#logger = logger;
    this.#onBroken = onBroken;
  }

  /** The flush of `segment`'s group commit: appends and fsyncs `items`, then buffers their rows. */
  async append(segment: Segment, items: LogItem[]): Promise<void> {
    // Writes queued before the segment broke must not land after its torn tail.
    if (segment.broken) {
      throw new SinkUnavailableError(this.logError ?? "The log cannot be written");
    }
    const bytes = this.#encode(items);
    // Kept before any await: a later flush may reuse the buffer, or detach it when it grows.
    const length = bytes.length;
    const started = performance.now();
    try {
      // A write to a regular file never waits on a reader: made synchronously,
      // it saves the hop to a blocking thread and back that only the fsync needs.
      writeAllSync(segment.file, bytes);
      await segment.file.syncData();
      segment.durable += length;
      this.logError = null;
    } catch (error) {
      this.#metrics.error("parquet", "log_write");
      this.logError = `Cannot write the log: ${(error as Error).message}`;
      await this.#cutBack(segment);
      throw new SinkUnavailableError(this.logError, { cause: error });
    }
    let events = 0;
    for (const { text, tables, events: logged } of items) {
      for (let i = 0; i < logged.length; i++) segment.rows.add(tables[i]!, logged[i]!);
      segment.bytes += text.length;
      events += logged.length;
    }
    this.#metrics.flushed("parquet", events, (performance.now() - started) / 1000);
    // The writes are durable; answering them waits while the encoder is far
    // behind, so the bytes waiting for it stay bounded (and later writes get 503).
    await segment.rows.drained();
  }

  /** The UTF-8 bytes of `items`' lines, in the log's encode buffer (grown if needed). */
  #encode(items: LogItem[]): Uint8Array {
    let buffer = this.#bytes;
    let length = 0;
    for (const item of items) {
      const text = item.text;
      if (buffer.length - length < text.length * 3) {
        const next = new Uint8Array(Math.max(2 * buffer.length, length + text.length * 3));
        next.set(buffer.subarray(0, length));
        discard(buffer);
        buffer = this.#bytes = next;
      }
      length += encoder.encodeInto(text, buffer.subarray(length)).written;
    }
    return buffer.subarray(0, length);
  }

  /**
   * After a failed write (a full disk stops it part way), cuts the log back to
   * its last fsynced length: otherwise the next write would be appended to a
   * torn line, and a replay would drop that acknowledged event with it. If
   * even that fails, the segment takes no more writes and is rolled.
   */
  async #cutBack(segment: Segment): Promise<void> {
    try {
      await segment.file.truncate(segment.durable);
    } catch (error) {
      segment.broken = true;
      this.#logger.error(
        { err: (error as Error).message, segment: segment.id },
        "cannot cut a failed write out of the log; moving to a new segment",
      );
      this.#onBroken();
    }
  }

  /** Reads the segment at `path` into `rows`. */
  async read(path: string, rows: SegmentRows): Promise<SegmentRows> {
    parseSegment(await Deno.readTextFile(path), (t, e) => rows.add(t, e), this.#logger);
    await rows.drained();
    return rows;
  }

  /**
   * Replays what a crash left behind, oldest first: each segment's rows, in
   * `newRows(id)`, go to `retire` (which writes their files and deletes the
   * segment). `dirs` are the folders to replay (default: this log's).
   */
  async replay(
    newRows: (id: string) => SegmentRows,
    retire: (path: string, rows: SegmentRows) => Promise<void>,
    options: { dirs?: readonly string[] } = {},
  ): Promise<void> {
    let segments = 0;
    let recovered = 0;
    for (const dir of options.dirs ?? [this.walDir]) {
      const leftovers = [];
      for await (const entry of Deno.readDir(dir)) {
        if (entry.isFile && entry.name.endsWith(".wal")) leftovers.push(entry.name);
      }
      for (const name of leftovers.sort()) {
        const id = name.slice(0, -".wal".length);
        const path = `${dir}/${name}`;
        const rows = await this.read(path, newRows(id));
        recovered += rows.count;
        await retire(path, rows);
      }
      segments += leftovers.length;
    }
    if (segments > 0) {
      this.#logger.info({ segments, events: recovered }, "replayed the write-ahead log");
    }
  }
}

/**
 * The Parquet lake sink. A write is durable once its events are in an
 * fsynced write-ahead log (group commit: one fsync carries every write that
 * arrived meanwhile). Logged events are buffered and rolled into Parquet files
 * by row count, size and age, and on close:
 * `<dir>/<table>/dt=YYYY-MM-DD/hour=HH/herald-<segment>-<n>.parquet`.
 *
 * The log lives in `<dir>/_wal/` as segments. A segment is deleted only after
 * all of its files are renamed into place, and file names derive from the
 * segment, so replaying a segment after a crash rewrites the same files: every
 * acknowledged event ends up in the lake exactly once, and no reader sees a
 * file without a footer.
 *
 * @module
 */
import type { Logger } from "pino";
import type { GatewayConfig } from "../../config/mod.ts";
import { GroupCommit } from "../_group_commit.ts";
import { writeAll } from "../io.ts";
import { ColumnarBuffer } from "./columnar.ts";
import { type ParquetOptions, parquetOptions as options } from "./options.ts";
import {
  type Column,
  inferColumns,
  lakeTables,
  ParquetEncoder,
  partitionOf,
  syncDir,
  writeFileAtomic,
} from "./file.ts";
import {
  type Event,
  type Health,
  NO_SINK_METRICS,
  type Sink,
  type SinkContext,
  type SinkDefinition,
  SinkUnavailableError,
} from "../contract.ts";

// What the lander shares with this sink: the same columns, partitions, encoder and file writes.
export {
  type Column,
  type CompressionName,
  lakeTables,
  ParquetEncoder,
  partitionOf,
  syncDir,
  writeFileAtomic,
} from "./file.ts";
export { ColumnarBuffer } from "./columnar.ts";

export type { ParquetOptions } from "./options.ts";

/**
 * A segment's events, by table partition, in column buffers of at most
 * `rollRows` events each; buffer n of a partition becomes file n.
 */
class SegmentRows {
  #buffers = new Map<string, ColumnarBuffer[]>();
  #columnsOf: (table: string, event: Event) => readonly Column[];
  #rollRows: number;
  count = 0;

  constructor(columnsOf: (table: string, event: Event) => readonly Column[], rollRows: number) {
    this.#columnsOf = columnsOf;
    this.#rollRows = rollRows;
  }

  add(table: string, event: Event): void {
    const key = `${table}/${partitionOf(event)}`;
    let list = this.#buffers.get(key);
    if (!list) this.#buffers.set(key, list = []);
    let buffer = list.at(-1);
    if (!buffer || buffer.length >= this.#rollRows) {
      list.push(buffer = new ColumnarBuffer(this.#columnsOf(table, event)));
    }
    buffer.append(event);
    this.count++;
  }

  /** `[table/partition, n, buffer]` for every buffer. */
  *files(): Generator<[string, number, ColumnarBuffer]> {
    for (const [key, list] of this.#buffers) {
      for (const [n, buffer] of list.entries()) yield [key, n, buffer];
    }
  }
}

interface Segment {
  id: string;
  path: string;
  file: Deno.FsFile;
  commit: GroupCommit<{ text: string; rows: [string, Event][] }>;
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

/** Creates the sink: replays any write-ahead log left by a crash, then opens a new one. */
export async function createParquetSink(opts: ParquetOptions, context: SinkContext): Promise<Sink> {
  const logger = context.logger.child({ sink: "parquet" });
  const metrics = context.metrics ?? NO_SINK_METRICS;
  let tables = lakeTables(context.config);
  const tableMap = (config: GatewayConfig) => new Map(config.actions.map((a) => [a.name, a.table]));
  let tableOf = tableMap(context.config);
  const walDir = `${opts.dir}/_wal`;
  await Deno.mkdir(walDir, { recursive: true });

  let seq = 0;
  let current: Segment | null = null;
  const sealed: Segment[] = [];
  let rolling: Promise<void> = Promise.resolve();
  let rollQueued = false;
  // Health has two parts that recover apart: the log (cleared by the next
  // write that reaches the disk) and the files (cleared by the next roll).
  let logError: string | null = null;
  let rollError: string | null = null;
  let filesWritten = 0;

  const columnsOf = (table: string, event: Event): readonly Column[] =>
    tables.get(table) ?? inferColumns([event]);
  const newRows = () => new SegmentRows(columnsOf, opts.roll_rows);
  const compression = opts.compression;
  const parquetEncoder = new ParquetEncoder();

  async function retire(id: string, path: string, rows: SegmentRows): Promise<void> {
    for (const [key, n, buffer] of rows.files()) {
      const bytes = await parquetEncoder.encode(buffer.toTable(), compression);
      await writeFileAtomic(`${opts.dir}/${key}/herald-${id}-${n}.parquet`, bytes);
      filesWritten++;
      metrics.fileWritten("parquet");
    }
    // Already gone if someone deleted the lake under a running Herald: the
    // files above were written from memory all the same.
    await Deno.remove(path).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
    await syncDir(walDir);
  }

  async function openSegment(): Promise<Segment> {
    const id = `${String(Date.now()).padStart(13, "0")}-${String(++seq).padStart(6, "0")}`;
    const path = `${walDir}/${id}.wal`;
    // Again at every roll: a lake folder deleted under a running Herald comes back.
    await Deno.mkdir(walDir, { recursive: true });
    const file = await Deno.open(path, { write: true, create: true, append: true });
    await syncDir(walDir);
    const segment: Segment = {
      id,
      path,
      file,
      rows: newRows(),
      bytes: 0,
      durable: 0,
      broken: false,
      openedAt: Date.now(),
      commit: new GroupCommit(async (items) => {
        // Writes queued before the segment broke must not land after its torn tail.
        if (segment.broken) throw new SinkUnavailableError(logError ?? "The log cannot be written");
        const bytes = encoder.encode(items.map((i) => i.text).join(""));
        const started = performance.now();
        try {
          await writeAll(file, bytes);
          await file.syncData();
          segment.durable += bytes.length;
          logError = null;
        } catch (error) {
          metrics.error("parquet", "log_write");
          logError = `Cannot write the log: ${(error as Error).message}`;
          await cutBack(segment);
          throw new SinkUnavailableError(logError, { cause: error });
        }
        let events = 0;
        for (const item of items) {
          for (const [table, event] of item.rows) segment.rows.add(table, event);
          segment.bytes += item.text.length;
          events += item.rows.length;
        }
        metrics.flushed("parquet", events, (performance.now() - started) / 1000);
      }, { maxPendingBytes: opts.max_pending_bytes }),
    };
    return segment;
  }

  /**
   * After a failed write (a full disk stops it part way), cuts the log back to
   * its last fsynced length: otherwise the next write would be appended to a
   * torn line, and a replay would drop that acknowledged event with it. If
   * even that fails, the segment takes no more writes and is rolled.
   */
  async function cutBack(segment: Segment): Promise<void> {
    try {
      await segment.file.truncate(segment.durable);
    } catch (error) {
      segment.broken = true;
      logger.error(
        { err: (error as Error).message, segment: segment.id },
        "cannot cut a failed write out of the log; moving to a new segment",
      );
      void roll();
    }
  }

  /** Seals the current segment and turns every sealed one into Parquet files. */
  function roll(final = false): Promise<void> {
    if (rollQueued && !final) return rolling;
    rollQueued = true;
    rolling = rolling.then(async () => {
      rollQueued = false;
      const old = current;
      if (final) current = null;
      else {
        try {
          current = await openSegment();
        } catch (error) {
          // Keep logging to the old segment; the next roll tries again.
          rollFailed("Cannot open a log segment", error, "roll failed; the next roll retries");
          return;
        }
      }
      await sealAndRetire(old);
    });
    return rolling;
  }

  /** Seals `old` once its pending writes are logged, then turns every sealed segment into files. */
  async function sealAndRetire(old: Segment | null): Promise<void> {
    try {
      if (old) {
        await old.commit.drain();
        old.file.close();
        if (old.rows.count > 0) sealed.push(old);
        else await Deno.remove(old.path);
      }
      while (sealed.length > 0) {
        const segment = sealed[0]!;
        await retire(segment.id, segment.path, segment.rows);
        sealed.shift();
      }
      rollError = null;
    } catch (error) {
      rollFailed(
        "Cannot write Parquet files",
        error,
        "roll failed; the log keeps the events and the next roll retries",
      );
    }
  }

  function rollFailed(problem: string, error: unknown, msg: string): void {
    metrics.error("parquet", "roll");
    rollError = `${problem}: ${(error as Error).message}`;
    logger.error({ err: rollError }, msg);
  }

  // Replay what a crash left behind, oldest first.
  const leftovers = [];
  for await (const entry of Deno.readDir(walDir)) {
    if (entry.isFile && entry.name.endsWith(".wal")) leftovers.push(entry.name);
  }
  let recovered = 0;
  for (const name of leftovers.sort()) {
    const rows = newRows();
    parseSegment(await Deno.readTextFile(`${walDir}/${name}`), (t, e) => rows.add(t, e), logger);
    recovered += rows.count;
    await retire(name.slice(0, -".wal".length), `${walDir}/${name}`, rows);
  }
  if (leftovers.length > 0) {
    logger.info({ segments: leftovers.length, events: recovered }, "replayed the write-ahead log");
  }
  current = await openSegment();

  const bufferedEvents = () => sealed.reduce((n, s) => n + s.rows.count, current?.rows.count ?? 0);

  const timer = setInterval(() => {
    const due = current && current.rows.count > 0 &&
      Date.now() - current.openedAt >= opts.roll_interval_ms;
    if (due || (sealed.length > 0 && current?.rows.count === 0)) void roll();
  }, Math.min(opts.roll_interval_ms, 1000));

  return {
    name: "parquet",
    async write(events) {
      const segment = current;
      if (!segment) throw new SinkUnavailableError("The Parquet sink is closed");
      const buffered = bufferedEvents();
      if (buffered >= opts.max_buffered_events) {
        throw new SinkUnavailableError(
          `Parquet files are behind: ${buffered} events waiting to be written`,
        );
      }
      const rows = events.map((
        e,
      ): [string, Event] => [tableOf.get(String(e.action)) ?? "events", e]);
      const text = rows.map((r) => JSON.stringify(r) + "\n").join("");
      await segment.commit.write({ text, rows }, text.length);
      if (segment.rows.count >= opts.roll_rows || segment.bytes >= opts.roll_bytes) void roll();
    },
    async close() {
      clearInterval(timer);
      await roll(true);
      parquetEncoder.close();
      logger.info({ files: filesWritten }, "parquet sink closed");
      if (sealed.length > 0) {
        throw new Error(`${sealed.length} log segment(s) not yet in Parquet: ${rollError}`);
      }
    },
    health(): Promise<Health> {
      // A broken segment keeps logError: no write to it can succeed and clear it.
      const error = logError ?? rollError;
      return Promise.resolve(error ? { ok: false, detail: error } : { ok: true });
    },
    load() {
      // Two queues: events waiting for files, and bytes waiting for the log's fsync.
      const events = bufferedEvents();
      const bytes = current?.commit.pendingBytes ?? 0;
      return events / opts.max_buffered_events >= bytes / opts.max_pending_bytes
        ? { queued: events, limit: opts.max_buffered_events, unit: "events" }
        : { queued: bytes, limit: opts.max_pending_bytes, unit: "bytes" };
    },
    async reconfigure(config) {
      const next = lakeTables(config);
      if (JSON.stringify([...next]) === JSON.stringify([...tables]) || !current) {
        tableOf = tableMap(config);
        return;
      }
      // A segment's files are built with one set of columns, so events of the
      // new config go to a new segment: the swap below is synchronous, and
      // the old segment is sealed once its pending writes are logged.
      const fresh = await openSegment();
      const old = current;
      tables = next;
      tableOf = tableMap(config);
      current = fresh;
      rolling = rolling.then(() => sealAndRetire(old));
      await rolling;
    },
  };
}

/** Registry entry of the Parquet sink. */
export const parquetSink: SinkDefinition<ParquetOptions> = {
  name: "parquet",
  options,
  fromEnv(opts, env) {
    const dir = env("HERALD_LAKE");
    return dir ? { ...opts, dir } : opts;
  },
  create: createParquetSink,
};

/**
 * The Parquet lake sink. A write is durable once its events are in an
 * fsynced write-ahead log (group commit: one fsync carries every write that
 * arrived meanwhile). Logged events are buffered and rolled into Parquet files
 * by row count, size and age, and on close:
 * `<dir>/<table>/dt=YYYY-MM-DD/hour=HH/herald-<segment>-<n>.parquet`.
 *
 * The log lives in `<dir>/_wal/` as segments (one folder per worker process
 * when several serve: `layout.ts`). A segment is deleted only after
 * all of its files are renamed into place, and file names derive from the
 * segment, so replaying a segment after a crash rewrites the same files: every
 * acknowledged event ends up in the lake exactly once, and no reader sees a
 * file without a footer.
 *
 * @module
 */
import { type GatewayConfig, sinkActions } from "../../config/mod.ts";
import { GroupCommit } from "../_group_commit.ts";
import { type ParquetOptions, parquetOptions as options } from "./options.ts";
import { type Column, inferColumns, lakeTables, removeStaleTemps, syncDir } from "./file.ts";
import { ParquetEncoder } from "./encoder.ts";
import {
  type Event,
  type Health,
  NO_SINK_METRICS,
  type Sink,
  type SinkContext,
  type SinkDefinition,
  SinkUnavailableError,
} from "../contract.ts";
import { logLayout } from "./layout.ts";
import { Roller } from "./roll.ts";
import { type LogItem, type Segment, SegmentLog } from "./wal.ts";
import { SegmentRows } from "./rows.ts";

// What the lander shares with this sink: the same columns, partitions, encoder and file writes.
export {
  type Column,
  type CompressionName,
  isTempName,
  lakeTables,
  partitionOf,
  removeStaleTemps,
  syncDir,
  tempPathOf,
  writeFileAtomic,
} from "./file.ts";
export { ColumnarBuffer } from "./columnar.ts";
export { ParquetEncoder } from "./encoder.ts";

export type { ParquetOptions } from "./options.ts";

export { parseSegment } from "./wal.ts";

/** The table of events whose action the config no longer has, with its JSON text. */
const DEFAULT_TABLE = ["events", '"events"'] as const;

/** Creates the sink: replays any write-ahead log left by a crash, then opens a new one. */
export async function createParquetSink(opts: ParquetOptions, context: SinkContext): Promise<Sink> {
  const logger = context.logger.child({ sink: "parquet" });
  const metrics = context.metrics ?? NO_SINK_METRICS;
  let tables = lakeTables(context.config);
  const tableMap = (config: GatewayConfig) =>
    new Map(
      sinkActions(config).map((a) => [a.name, [a.table, JSON.stringify(a.table)] as const]),
    );
  let tableOf = tableMap(context.config);
  const layout = logLayout(opts.dir, context.worker);
  const walDir = layout.walDir;
  await Deno.mkdir(walDir, { recursive: true });
  const stale = await removeStaleTemps(opts.dir, { owned: (name) => layout.ownsTemp(name) });
  if (stale > 0) logger.info({ files: stale }, "removed temporary files a crash left");

  const columnsOf = (table: string, event: Event): readonly Column[] =>
    tables.get(table) ?? inferColumns([event]);
  const parquetEncoder = new ParquetEncoder();
  const newRows = (id: string) =>
    new SegmentRows(id, {
      dir: opts.dir,
      columnsOf,
      rollRows: opts.roll_rows,
      rowGroupRows: opts.row_group_rows,
      compression: opts.compression,
      encoder: parquetEncoder,
    });
  // Health has two parts that recover apart: the log (cleared by the next
  // write that reaches the disk) and the files (cleared by the next roll).
  const log = new SegmentLog(walDir, metrics, logger, () => void roller.roll());
  const roller: Roller = new Roller({
    openSegment,
    reread: (segment) => log.read(segment.path, newRows(segment.id)),
    metrics,
    logger,
  });

  let seq = 0;
  async function openSegment(): Promise<Segment> {
    const id = `${layout.tag}${String(Date.now()).padStart(13, "0")}-${
      String(++seq).padStart(6, "0")
    }`;
    const path = `${walDir}/${id}.wal`;
    // Again at every roll: a lake folder deleted under a running Herald comes back.
    await Deno.mkdir(walDir, { recursive: true });
    const file = await Deno.open(path, { write: true, create: true, append: true });
    await syncDir(walDir);
    const segment: Segment = {
      id,
      path,
      file,
      rows: newRows(id),
      bytes: 0,
      durable: 0,
      broken: false,
      openedAt: Date.now(),
      commit: new GroupCommit<LogItem>((items) => log.append(segment, items), {
        maxPendingBytes: opts.max_pending_bytes,
      }),
    };
    return segment;
  }

  await log.replay(newRows, (path, rows) => roller.retire(path, rows), {
    dirs: [walDir, ...await layout.orphans()],
  });
  roller.current = await openSegment();
  roller.watch(opts.roll_interval_ms);

  return {
    name: "parquet",
    async write(events) {
      const segment = roller.current;
      if (!segment) throw new SinkUnavailableError("The Parquet sink is closed");
      const buffered = roller.bufferedEvents();
      if (buffered >= opts.max_buffered_events) {
        throw new SinkUnavailableError(
          `Parquet files are behind: ${buffered} events waiting to be written`,
        );
      }
      // Each line is `[table, event]`, built from the table's JSON text.
      const tables: string[] = [];
      let text = "";
      for (const e of events) {
        const table = tableOf.get(String(e.action)) ?? DEFAULT_TABLE;
        tables.push(table[0]);
        text += `[${table[1]},${JSON.stringify(e)}]\n`;
      }
      await segment.commit.write({ text, tables, events }, text.length);
      if (segment.rows.count >= opts.roll_rows || segment.bytes >= opts.roll_bytes) {
        void roller.roll();
      }
    },
    async close() {
      roller.stopWatching();
      await roller.roll(true);
      parquetEncoder.close();
      logger.info({ files: roller.filesWritten }, "parquet sink closed");
      if (roller.sealed.length > 0) {
        throw new Error(
          `${roller.sealed.length} log segment(s) not yet in Parquet: ${roller.rollError}`,
        );
      }
    },
    health(): Promise<Health> {
      // A broken segment keeps logError: no write to it can succeed and clear it.
      const error = log.logError ?? roller.rollError;
      return Promise.resolve(error ? { ok: false, detail: error } : { ok: true });
    },
    load() {
      // Two queues: events waiting for files, and bytes waiting for the log's fsync.
      const events = roller.bufferedEvents();
      const bytes = roller.current?.commit.pendingBytes ?? 0;
      return events / opts.max_buffered_events >= bytes / opts.max_pending_bytes
        ? { queued: events, limit: opts.max_buffered_events, unit: "events" }
        : { queued: bytes, limit: opts.max_pending_bytes, unit: "bytes" };
    },
    async reconfigure(config) {
      const next = lakeTables(config);
      if (JSON.stringify([...next]) === JSON.stringify([...tables]) || !roller.current) {
        tableOf = tableMap(config);
        return;
      }
      // A segment's files are built with one set of columns, so events of the
      // new config go to a new segment: the swap below is synchronous, and
      // the old segment is sealed once its pending writes are logged.
      const fresh = await openSegment();
      tables = next;
      tableOf = tableMap(config);
      await roller.swap(fresh);
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

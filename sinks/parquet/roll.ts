/**
 * Rolling of the Parquet sink: the current log segment is sealed (once its
 * pending writes are logged) and a new one opened, and every sealed segment
 * is turned into Parquet files, renamed into place, before the segment is
 * deleted. File names derive from the segment, so a replay rewrites the same
 * files.
 *
 * @module
 */
import type { Logger } from "pino";
import type { SinkMetrics } from "../contract.ts";
import { syncDir } from "./file.ts";
import type { SegmentRows } from "./rows.ts";
import type { Segment } from "./wal.ts";

/** What a {@linkcode Roller} writes with. */
export interface RollerOptions {
  /** Opens the next log segment. */
  openSegment: () => Promise<Segment>;
  /** Reads a segment's rows again from its log, after a roll failed part way. */
  reread: (segment: Segment) => Promise<SegmentRows>;
  metrics: SinkMetrics;
  logger: Logger;
}

/** The current segment, the sealed ones not yet in files, and the rolls between them. */
export class Roller {
  #o: RollerOptions;
  #rolling: Promise<void> = Promise.resolve();
  #rollQueued = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** The segment writes go to; null once closed. */
  current: Segment | null = null;
  /** Segments closed for writes whose files are not all written yet, oldest first. */
  readonly sealed: Segment[] = [];
  /** Why files cannot be written, until the next roll that writes them. */
  rollError: string | null = null;
  filesWritten = 0;

  constructor(options: RollerOptions) {
    this.#o = options;
  }

  /** Events logged and not yet in Parquet files. */
  bufferedEvents(): number {
    return this.sealed.reduce((n, s) => n + s.rows.count, this.current?.rows.count ?? 0);
  }

  /** Finishes the files of a segment's `rows`, then deletes the segment at `path`. */
  async retire(path: string, rows: SegmentRows): Promise<void> {
    const files = await rows.finish();
    for (let i = 0; i < files; i++) this.#o.metrics.fileWritten("parquet");
    this.filesWritten += files;
    // Already gone if someone deleted the lake under a running Herald: the
    // files above were written from memory all the same.
    await Deno.remove(path).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
    // The segment's own folder: a replayed one may be another worker's.
    await syncDir(path.slice(0, path.lastIndexOf("/")));
  }

  /** Seals the current segment and turns every sealed one into Parquet files. */
  roll(final = false): Promise<void> {
    if (this.#rollQueued && !final) return this.#rolling;
    this.#rollQueued = true;
    this.#rolling = this.#rolling.then(async () => {
      this.#rollQueued = false;
      const old = this.current;
      if (final) this.current = null;
      else {
        try {
          this.current = await this.#o.openSegment();
        } catch (error) {
          // Keep logging to the old segment; the next roll tries again.
          this.#failed("Cannot open a log segment", error, "roll failed; the next roll retries");
          return;
        }
      }
      await this.#sealAndRetire(old);
    });
    return this.#rolling;
  }

  /**
   * Makes `fresh` the current segment at once, and seals the old one after
   * the rolls already queued.
   */
  swap(fresh: Segment): Promise<void> {
    const old = this.current;
    this.current = fresh;
    this.#rolling = this.#rolling.then(() => this.#sealAndRetire(old));
    return this.#rolling;
  }

  /**
   * Checks every `min(intervalMs, 1s)`: rolls a current segment with events
   * older than `intervalMs`, and retries sealed segments while no event waits.
   */
  watch(intervalMs: number): void {
    this.#timer = setInterval(() => {
      const current = this.current;
      const due = current && current.rows.count > 0 &&
        Date.now() - current.openedAt >= intervalMs;
      if (due || (this.sealed.length > 0 && current?.rows.count === 0)) void this.roll();
    }, Math.min(intervalMs, 1000));
  }

  /** Stops the timer of {@linkcode watch}. */
  stopWatching(): void {
    clearInterval(this.#timer);
  }

  /** Seals `old` once its pending writes are logged, then turns every sealed segment into files. */
  async #sealAndRetire(old: Segment | null): Promise<void> {
    try {
      if (old) {
        await old.commit.drain();
        old.file.close();
        if (old.rows.count > 0) this.sealed.push(old);
        else await Deno.remove(old.path);
      }
      while (this.sealed.length > 0) {
        const segment = this.sealed[0]!;
        // Rows that went into files that failed are gone: read them again.
        if (segment.rows.finished) segment.rows = await this.#o.reread(segment);
        await this.retire(segment.path, segment.rows);
        this.sealed.shift();
      }
      this.rollError = null;
    } catch (error) {
      this.#failed(
        "Cannot write Parquet files",
        error,
        "roll failed; the log keeps the events and the next roll retries",
      );
    }
  }

  #failed(problem: string, error: unknown, msg: string): void {
    this.#o.metrics.error("parquet", "roll");
    this.rollError = `${problem}: ${(error as Error).message}`;
    this.#o.logger.error({ err: this.rollError }, msg);
  }
}

/**
 * The open range of one topic partition: the records read and not yet
 * committed, kept raw in offset order until the range is flushed, and when it
 * is due to be.
 *
 * @module
 */
import type { Range } from "./claims.ts";

/** A record of the open range, kept raw until its range is flushed. */
export interface RawRecord {
  offset: number;
  value: Uint8Array | null;
  timestamp: bigint;
}

/** When an open range is flushed: at this many records, or this old. */
export interface FlushPolicy {
  flushRows: number;
  flushIntervalMs: number;
}

/** Records of one topic partition not yet committed. */
export class PartitionBuffer {
  /** The open range's records, in offset order. */
  records: RawRecord[] = [];
  /** When claims of committed ranges were last pruned. */
  prunedAt = 0;
  openedAt = 0;
  leaderEpoch = -1;

  /**
   * `next` is the first offset to read; `replay` a claimed range to rebuild
   * (after a crash or a rebalance), or null.
   */
  constructor(
    readonly topic: string,
    readonly partition: number,
    /** Offset after the last one seen; older offsets are a re-delivery and skipped. */
    public next: number,
    /** A claimed range being rebuilt (after a crash or a rebalance): flush exactly at its end. */
    public replay: Range | null,
  ) {}

  /** Whether the open range is due by size or age; a range being rebuilt is not. */
  due(policy: FlushPolicy): boolean {
    return this.records.length > 0 && !this.replay &&
      (this.records.length >= policy.flushRows ||
        Date.now() - this.openedAt >= policy.flushIntervalMs);
  }

  /** Appends a record read at `leaderEpoch`; the first one opens the range. */
  push(record: RawRecord, leaderEpoch: number): void {
    if (this.records.length === 0) this.openedAt = Date.now();
    this.records.push(record);
    this.next = record.offset + 1;
    this.leaderEpoch = leaderEpoch;
  }

  /** The records at the front of the buffer up to offset `last`. */
  through(last: number): RawRecord[] {
    const count = this.records.findIndex((r) => r.offset > last);
    return count < 0 ? this.records : this.records.slice(0, count);
  }

  /** Drops the `count` records just landed; the rest opens the next range. */
  rolled(count: number): void {
    this.records = this.records.slice(count);
    this.replay = null;
    this.openedAt = Date.now();
  }
}

/**
 * The partitions a lander owns and their open ranges: records are buffered
 * per topic partition, and a range is rolled (claimed, its files written,
 * committed) when it is due, or exactly at the end of a claimed range being
 * rebuilt.
 *
 * @module
 */
import type { Logger } from "pino";
import { type FlushPolicy, PartitionBuffer, type RawRecord } from "./buffer.ts";
import type { Range } from "./claims.ts";
import type { RangeFiles } from "./files.ts";
import type { GroupClaims } from "./recovery.ts";
import type { LanderStats } from "./stats.ts";

/** A record as fetched from a topic partition. */
export interface FetchedRecord {
  topic: string;
  partition: number;
  offset: bigint;
  value?: Uint8Array | null;
  timestamp: bigint;
  leaderEpoch: number;
}

/** The partitions of one group's assignment. */
export interface Assignment {
  topic: string;
  partitions: readonly number[];
}

/** What {@linkcode Partitions} rolls ranges with. */
export interface PartitionsOptions {
  policy: FlushPolicy;
  claims: GroupClaims;
  files: RangeFiles;
  /** Commits past `range` of the buffer's partition. */
  commit(buffer: PartitionBuffer, range: Range): Promise<void>;
  /** Kill the process with SIGKILL after the first range's files, before its commit. */
  killAfterFiles: boolean;
  stats: LanderStats;
  logger: Logger;
}

const keyOf = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/** Open ranges of the partitions this lander owns; one call at a time. */
export class Partitions {
  readonly #options: PartitionsOptions;
  readonly #buffers = new Map<string, PartitionBuffer>();
  /** `topic\0partition` of the partitions this lander owns now. */
  #owned = new Set<string>();

  /** No partition owned until {@linkcode Partitions.adopt}. */
  constructor(options: PartitionsOptions) {
    this.#options = options;
  }

  /** The buffers of the partitions owned, live. */
  buffers(): IterableIterator<PartitionBuffer> {
    return this.#buffers.values();
  }

  /** Owns exactly these partitions from now on; buffers of others are dropped. */
  adopt(assignments: readonly Assignment[]): void {
    this.#owned = new Set(
      assignments.flatMap((a) => a.partitions.map((p) => keyOf(a.topic, p))),
    );
    for (const key of this.#buffers.keys()) if (!this.#owned.has(key)) this.#buffers.delete(key);
  }

  /** Adds one fetched record; flushes its partition when due. */
  async add(message: FetchedRecord): Promise<void> {
    const { topic, partition } = message;
    // Fetched before a rebalance took the partition away.
    if (!this.#owned.has(keyOf(topic, partition))) return;
    const offset = Number(message.offset);
    const buffer = await this.#bufferFor(topic, partition, offset);
    if (offset < buffer.next) return;
    if (buffer.replay && offset > buffer.replay.last) {
      buffer.next = offset; // past the claim's end: flush what it holds
      await this.flush(buffer);
    }
    buffer.push(
      { offset, value: message.value ?? null, timestamp: message.timestamp },
      message.leaderEpoch,
    );
    this.#options.stats.records++;
    const flush = buffer.replay ? offset === buffer.replay.last : buffer.due(this.#options.policy);
    if (flush) await this.flush(buffer);
  }

  /** Flushes every partition whose range is due, until `stopping()`. */
  async flushDue(stopping: () => boolean): Promise<void> {
    for (const buffer of this.#buffers.values()) {
      if (stopping()) return;
      if (buffer.due(this.#options.policy)) await this.flush(buffer);
    }
  }

  /** Flushes what is complete; a range being rebuilt is left for the next run. */
  async flushComplete(): Promise<void> {
    for (const buffer of this.#buffers.values()) {
      if (!buffer.replay) await this.flush(buffer);
    }
  }

  /**
   * Claims the open range, writes its files, then commits past it. A claim
   * already there with another end wins: a shorter one is landed from the
   * front of the buffer and the rest becomes the next range; a longer one
   * waits for its remaining records.
   */
  async flush(buffer: PartitionBuffer): Promise<void> {
    const key = keyOf(buffer.topic, buffer.partition);
    while (buffer.records.length > 0 && this.#owned.has(key)) {
      const lastSeen = buffer.records[buffer.records.length - 1]!.offset;
      const read = { first: buffer.records[0]!.offset, last: lastSeen };
      const range = buffer.replay ?? await this.#options.claims.take(buffer, read);
      // A claimed range ends past what was read: wait for the rest, unless
      // the partition has moved on past its end (a gap in the offsets).
      if (range.last > lastSeen && buffer.next <= range.last) {
        buffer.replay = range;
        return;
      }
      const rows = buffer.through(range.last);
      await this.#land(buffer, range, rows);
      buffer.rolled(rows.length);
      if (buffer.records.length > 0 && !buffer.due(this.#options.policy)) return;
    }
  }

  /** The buffer of a partition, made when its first record (at `firstSeen`) arrives. */
  async #bufferFor(topic: string, partition: number, firstSeen: number): Promise<PartitionBuffer> {
    const key = keyOf(topic, partition);
    let buffer = this.#buffers.get(key);
    if (!buffer) {
      const replay = await this.#options.claims.resume(topic, partition, firstSeen);
      buffer = new PartitionBuffer(topic, partition, firstSeen, replay);
      this.#buffers.set(key, buffer);
    }
    return buffer;
  }

  /** Writes the range's files, commits past it, then prunes old claims. */
  async #land(buffer: PartitionBuffer, range: Range, rows: readonly RawRecord[]): Promise<void> {
    const { files, claims, stats, logger } = this.#options;
    await files.write(buffer, range, rows);
    // Fault injection for crash tests and drills: die as kill -9 would, with
    // the range's files written and its offsets not yet committed.
    if (this.#options.killAfterFiles) Deno.kill(Deno.pid, "SIGKILL");
    await this.#options.commit(buffer, range);
    stats.commits++;
    logger.debug({ topic: buffer.topic, partition: buffer.partition, ...range }, "range landed");
    await claims.prune(buffer, range.last + 1).catch((error) =>
      logger.warn({ err: String(error) }, "cannot prune range claims")
    );
  }
}

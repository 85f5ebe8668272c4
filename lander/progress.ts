/**
 * The lander's progress line, logged at a fixed interval: records per second
 * since the last line, lag per topic partition, and the counters.
 *
 * @module
 */
import type { Logger } from "pino";
import type { PartitionBuffer } from "./buffer.ts";
import type { RawConsumer } from "./group.ts";
import type { LanderStats } from "./stats.ts";

/** What a progress line reads. */
export interface ProgressOptions {
  consumer: RawConsumer;
  /** The partitions' buffers now. */
  buffers(): Iterable<PartitionBuffer>;
  stats: LanderStats;
  logger: Logger;
  intervalMs: number;
}

/** Offsets between each partition's end and what the lander read, by `topic/partition`. */
async function lagOf(
  consumer: RawConsumer,
  buffers: () => Iterable<PartitionBuffer>,
): Promise<Record<string, number>> {
  const lag: Record<string, number> = {};
  const topics = [...new Set([...buffers()].map((b) => b.topic))];
  if (topics.length === 0) return lag;
  try {
    const ends = await consumer.listOffsets({ topics });
    for (const b of buffers()) {
      const end = ends.get(b.topic)?.[b.partition];
      if (end !== undefined) lag[`${b.topic}/${b.partition}`] = Number(end) - b.next;
    }
  } catch { /* lag is best effort */ }
  return lag;
}

/** Logs a progress line every `intervalMs`; returns the function that stops it. */
export function logProgress(options: ProgressOptions): () => void {
  const { stats, logger } = options;
  let lastCount = 0;
  let lastAt = Date.now();
  const timer = setInterval(async () => {
    const now = Date.now();
    const lag = await lagOf(options.consumer, options.buffers);
    const done = stats.records;
    logger.info({
      records_per_s: Math.round(((done - lastCount) * 1000) / Math.max(1, now - lastAt)),
      lag,
      ...stats,
    }, "progress");
    lastCount = done;
    lastAt = now;
  }, options.intervalMs);
  return () => clearInterval(timer);
}

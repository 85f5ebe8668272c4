/**
 * `deno task land`: the Kafka -> Parquet lander (the seeds' Spark streaming
 * job). A consumer (@platformatic/kafka) in a consumer group reads Herald's topics, checks
 * each record against the config, and writes it with the Parquet sink's code
 * (same tables, column types and `dt=/hour=` partitions) into the lake.
 *
 * Exactly once in the lake, per topic partition:
 *
 * - Records are buffered as a *range* of offsets `[first, last]`. A range is
 *   flushed when it holds `--flush-rows` records or is `--flush-interval-ms`
 *   old: its files are named `land-<topic>-<partition>-<first>-<last>.parquet` (one
 *   per table partition), written atomically (temp name, fsync, rename, folder
 *   fsync), and only then is offset `last + 1` committed to the group.
 * - Before the files, the range is claimed: `<lake>/_land/<group>/<topic>-
 *   <partition>/<first>.json` holding `[first, last]` is published with an
 *   exclusive link, so the first claim of an offset wins and is never
 *   rewritten. Whoever writes `land-...-<first>-<last>` files (this lander after a
 *   crash, another after a rebalance, a stalled one waking up late) writes
 *   the claimed range and nothing else: a file's rows are a function of its
 *   name. Records stay raw until their range is flushed, so a lander that
 *   finds an offset claimed with another end lands exactly the claimed range:
 *   a shorter one from the front of its buffer (the rest becomes the next
 *   range), a longer one once it has read up to the claim's end.
 * - After a crash the group restarts from the committed offset `first`; the
 *   lander finds the claim and rebuilds exactly `[first, last]`, so it
 *   rewrites the same files with the same rows instead of adding new ones.
 * - Scale-out is Kafka's consumer-group protocol. On a rebalance the lander
 *   drops what it buffered for the partitions it lost; whoever owns them next
 *   starts from the committed offset and follows the claims. Partitions it
 *   keeps go on where they were (a re-delivery of older offsets is skipped).
 *   With `--instance-id` (static membership) a restarted lander gets its
 *   partitions back without waiting for the session timeout.
 *
 * A record whose `event_id` was landed within the dedup window (by this
 * lander, or found in the lake's recent lander files at start) is dropped,
 * as is a repeat within one range: see `dedup.ts`.
 *
 * Records that are not JSON, name no configured action, or carry a field of
 * the wrong type go to the `_rejected` table with the raw value, topic,
 * partition, offset and the reason. Keys that are not columns of the table are
 * ignored, as the Parquet sink ignores them.
 *
 * ```sh
 * deno task land                                  # config/gateway.yaml, group herald-lander
 * deno task land --tables purchases,joins --flush-interval-ms 2000
 * ```
 *
 * The parts: `group.ts` (the consumer in its group, commits), `stream.ts`
 * (reading records), `partitions.ts` and `buffer.ts` (open ranges and when
 * they roll), `recovery.ts` and `claims.ts` (range claims), `files.ts` (a
 * range's Parquet files), `progress.ts` (the progress line).
 *
 * @module
 */
import type { Logger } from "pino";
import { type GatewayConfig, sinkActions } from "../config/mod.ts";
import {
  type CompressionName,
  lakeTables,
  ParquetEncoder,
  removeStaleTemps,
} from "../sinks/parquet/mod.ts";
import { LandedIds } from "./dedup.ts";
import { RangeFiles } from "./files.ts";
import { adoptAssignment, commitPast, createConsumer } from "./group.ts";
import { Partitions } from "./partitions.ts";
import { logProgress } from "./progress.ts";
import { GroupClaims } from "./recovery.ts";
import { emptyStats, type LanderStats } from "./stats.ts";
import { Consumption } from "./stream.ts";

export type { LanderStats } from "./stats.ts";

/** What the lander needs; `main()` builds it from flags, env and config. */
export interface LanderOptions {
  config: GatewayConfig;
  brokers: string[];
  lake: string;
  group: string;
  topics: string[];
  /** Tables to land; null for all. */
  tables: ReadonlySet<string> | null;
  compression: CompressionName;
  flushIntervalMs: number;
  flushRows: number;
  progressIntervalMs: number;
  sessionTimeoutMs: number;
  /** Static group membership: a restart with the same id keeps the partitions (null: dynamic). */
  instanceId: string | null;
  fromBeginning: boolean;
  clientId: string;
  /** A repeat of an event id landed this recently is dropped. */
  dedupWindowMs: number;
  /** Event ids remembered at most; 0 turns the lander's dedup off. */
  dedupMaxIds: number;
  /** Kill the process with SIGKILL after the first range's files, before its commit. */
  killAfterFiles?: boolean;
  logger: Logger;
}

/** A running lander; `stop()` flushes what is complete, commits and disconnects. */
export interface Lander {
  stats(): LanderStats;
  stop(): Promise<void>;
}

/** Runs tasks one at a time, in order; a task that fails does not stop the next. */
class Serial {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(task);
    this.#tail = run.catch(() => {});
    return run;
  }
}

/** Starts consuming; resolves once the consumer has joined its group. */
export async function startLander(options: LanderOptions): Promise<Lander> {
  const { logger, lake, group } = options;
  const stale = await removeStaleTemps(lake);
  if (stale > 0) logger.info({ files: stale }, "removed temporary files a crash left");
  const kafka = await import("@platformatic/kafka");
  const encoder = new ParquetEncoder();
  const stats = emptyStats();
  let stopping = false;
  // One thing at a time: records, timed flushes, rebalances and stop.
  const serial = new Serial();

  const landed = new LandedIds({
    windowMs: options.dedupWindowMs,
    maxIds: options.dedupMaxIds,
  });
  const columns = lakeTables(options.config);
  await landed.seed(lake, columns.keys(), logger);
  const consumer = createConsumer(kafka, options);
  const partitions = new Partitions({
    policy: { flushRows: options.flushRows, flushIntervalMs: options.flushIntervalMs },
    claims: new GroupClaims(lake, group, logger),
    files: new RangeFiles({
      lake,
      compression: options.compression,
      encoder,
      actions: new Map(sinkActions(options.config).map((a) => [a.name, a])),
      columns,
      tables: options.tables,
      stats,
      landed,
    }),
    commit: (buffer, range) => commitPast(consumer, buffer, range),
    killAfterFiles: options.killAfterFiles ?? false,
    stats,
    logger,
  });
  const adopt = () =>
    adoptAssignment(consumer, (assigned) => partitions.adopt(assigned), {
      fromBeginning: options.fromBeginning,
      logger,
    });

  consumer.on("consumer:group:join", () => {
    void serial.run(adopt).catch((error) =>
      logger.warn({ err: String(error) }, "cannot adopt the new assignment")
    );
  });
  consumer.on("consumer:group:rebalance", () => logger.info("rebalancing"));

  // Partitions that stop receiving records are flushed by age here.
  const timer = setInterval(() => {
    if (stopping) return;
    void serial.run(() => partitions.flushDue(() => stopping))
      .catch((error) => logger.warn({ err: String(error) }, "timed flush failed; will retry"));
  }, Math.max(100, Math.min(1000, options.flushIntervalMs / 4)));

  const stopProgress = logProgress({
    consumer,
    buffers: () => partitions.buffers(),
    stats,
    logger,
    intervalMs: options.progressIntervalMs,
  });

  await consumer.joinGroup({});
  await serial.run(adopt);
  const consumption = await Consumption.start(kafka, consumer, {
    topics: options.topics,
    fromBeginning: options.fromBeginning,
    handle: (message) =>
      serial.run(async () => {
        if (!stopping) await partitions.add(message);
      }),
    stopping: () => stopping,
    logger,
  });
  logger.info({ group, topics: options.topics, lake, brokers: options.brokers }, "landing");

  return {
    stats: () => ({ ...stats }),
    async stop() {
      stopping = true;
      clearInterval(timer);
      stopProgress();
      // Commit what is complete while the consumer is still in the group. A
      // range being rebuilt is left for the next run.
      await serial.run(() => partitions.flushComplete())
        .catch((error) => logger.warn({ err: String(error) }, "final flush failed"));
      await consumption.close();
      await consumer.close(true).catch(() => {});
      encoder.close();
      logger.info({ ...stats }, "lander stopped");
    },
  };
}

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
 *   old: its files are named `land-<topic>-<partition>-<first>.parquet` (one
 *   per table partition), written atomically (temp name, fsync, rename, folder
 *   fsync), and only then is offset `last + 1` committed to the group.
 * - Before the files, the range is claimed: `<lake>/_land/<group>/<topic>-
 *   <partition>/<first>.json` holding `[first, last]` is published with an
 *   exclusive link, so the first claim of an offset wins and is never
 *   rewritten. Whoever writes `land-...-<first>` files (this lander after a
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
 * @module
 */
import type { Logger } from "pino";
import type { GatewayConfig } from "../config/mod.ts";
import type { Event } from "../sinks/contract.ts";
import {
  ColumnarBuffer,
  type CompressionName,
  lakeTables,
  ParquetEncoder,
  partitionOf,
  writeFileAtomic,
} from "../sinks/parquet/mod.ts";
import { claim, pruneClaims, type Range, readClaim } from "./claims.ts";
import { REJECTED_COLUMNS, REJECTED_TABLE, routeRecord, UTF8_LENIENT } from "./route.ts";

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
  /** Kill the process with SIGKILL after the first range's files, before its commit. */
  killAfterFiles?: boolean;
  logger: Logger;
}

/** How long the claims of committed ranges are kept (see {@linkcode pruneClaims}). */
const CLAIM_RETENTION_MS = 60 * 60 * 1000;

/** A record of the open range, kept raw until its range is flushed. */
interface RawRecord {
  offset: number;
  value: Uint8Array | null;
  timestamp: bigint;
}

/** Records of one topic partition not yet committed. */
interface PartitionState {
  topic: string;
  partition: number;
  /** The open range's records, in offset order. */
  records: RawRecord[];
  /** A claimed range being rebuilt (after a crash or a rebalance): flush exactly at its end. */
  replay: Range | null;
  /** When claims of committed ranges were last pruned. */
  prunedAt: number;
  openedAt: number;
  /** Offset after the last one seen; older offsets are a re-delivery and skipped. */
  next: number;
  leaderEpoch: number;
}

/** Counters for progress lines and the exit line. */
export interface LanderStats {
  /** Records read (landed, rejected or skipped once their range is flushed). */
  records: number;
  rejected: number;
  skipped: number;
  files: number;
  commits: number;
}

/** A running lander; `stop()` flushes what is complete, commits and disconnects. */
export interface Lander {
  stats(): LanderStats;
  stop(): Promise<void>;
}

type RawConsumer = import("@platformatic/kafka").Consumer<Buffer, Buffer, Buffer, Buffer>;

/** Starts consuming; resolves once the consumer has joined its group. */
export async function startLander(options: LanderOptions): Promise<Lander> {
  const { logger, lake, group } = options;
  const kafka = await import("@platformatic/kafka");
  const actions = new Map(options.config.actions.map((a) => [a.name, a]));
  const tables = lakeTables(options.config);
  const encoder = new ParquetEncoder();
  const states = new Map<string, PartitionState>();
  const stats: LanderStats = { records: 0, rejected: 0, skipped: 0, files: 0, commits: 0 };
  /** `topic\0partition` of the partitions this lander owns now. */
  let owned = new Set<string>();
  let stopping = false;

  // One thing at a time: records, timed flushes, rebalances and stop.
  let chain: Promise<unknown> = Promise.resolve();
  const locked = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn);
    chain = run.catch(() => {});
    return run;
  };

  const consumer: RawConsumer = new kafka.Consumer({
    clientId: options.clientId,
    groupId: group,
    bootstrapBrokers: options.brokers,
    // Static membership: a lander restarted with the same id gets its
    // partitions back at once instead of after the session timeout.
    groupInstanceId: options.instanceId ?? undefined,
    sessionTimeout: options.sessionTimeoutMs,
    heartbeatInterval: Math.min(1000, Math.floor(options.sessionTimeoutMs / 3)),
    rebalanceTimeout: Math.max(10_000, options.sessionTimeoutMs),
    autocommit: false,
    maxWaitTime: 500,
    maxBytes: 32 * 1024 * 1024,
    maxBytesPerPartition: 8 * 1024 * 1024,
  });

  const keyOf = (topic: string, partition: number) => `${topic}\u0000${partition}`;
  const claimDir = (topic: string, partition: number) =>
    `${lake}/_land/${encodeURIComponent(group)}/${encodeURIComponent(topic)}-${partition}`;

  async function prune(state: PartitionState, committed: number): Promise<void> {
    if (Date.now() - state.prunedAt < 60_000) return;
    state.prunedAt = Date.now();
    await pruneClaims(claimDir(state.topic, state.partition), committed, {
      retentionMs: CLAIM_RETENTION_MS,
    });
  }

  async function stateFor(topic: string, partition: number, firstSeen: number) {
    const key = keyOf(topic, partition);
    let state = states.get(key);
    if (!state) {
      // The group resumes from the committed offset: a claim starting there
      // was never committed and must be rebuilt as claimed.
      const replay = await readClaim(claimDir(topic, partition), firstSeen);
      if (replay) logger.info({ topic, partition, ...replay }, "rebuilding a claimed range");
      state = {
        topic,
        partition,
        records: [],
        replay,
        prunedAt: 0,
        openedAt: 0,
        next: firstSeen,
        leaderEpoch: -1,
      };
      states.set(key, state);
    }
    return state;
  }

  /** Routes one record to its table partition's buffer. */
  function route(
    state: PartitionState,
    record: RawRecord,
    buffers: Map<string, { table: string; buffer: ColumnarBuffer }>,
  ): void {
    const routed = routeRecord(record.value, actions);
    let table: string;
    let event: Event;
    if ("rejected" in routed) {
      const time = new Date(Number(record.timestamp)).toISOString();
      table = REJECTED_TABLE;
      event = {
        raw: record.value === null ? null : UTF8_LENIENT.decode(record.value),
        topic: state.topic,
        partition: state.partition,
        offset: record.offset,
        reason: routed.rejected,
        record_time: time,
        received_at: time,
      };
      stats.rejected++;
    } else {
      if (options.tables && !options.tables.has(routed.table)) {
        stats.skipped++;
        return;
      }
      table = routed.table;
      event = routed.event;
    }
    const key = `${table}/${partitionOf(event)}`;
    let entry = buffers.get(key);
    if (!entry) {
      const columns = table === REJECTED_TABLE ? REJECTED_COLUMNS : tables.get(table)!;
      entry = { table, buffer: new ColumnarBuffer(columns) };
      buffers.set(key, entry);
    }
    entry.buffer.append(event);
  }

  /**
   * Claims the open range, writes its files, then commits past it. A claim
   * already there with another end wins: a shorter one is landed from the
   * front of the buffer and the rest becomes the next range; a longer one
   * waits for its remaining records.
   */
  async function flush(state: PartitionState): Promise<void> {
    const key = keyOf(state.topic, state.partition);
    while (state.records.length > 0 && owned.has(key)) {
      const lastSeen = state.records[state.records.length - 1]!.offset;
      let range = state.replay ?? { first: state.records[0]!.offset, last: lastSeen };
      if (!state.replay) {
        const claimed = await claim(claimDir(state.topic, state.partition), range);
        if (claimed.last !== range.last) {
          logger.warn(
            { topic: state.topic, partition: state.partition, ours: range, claimed },
            "offset already claimed with another end; landing the claimed range",
          );
          range = claimed;
        }
      }
      // A claimed range ends past what was read: wait for the rest, unless
      // the partition has moved on past its end (a gap in the offsets).
      if (range.last > lastSeen && state.next <= range.last) {
        state.replay = range;
        return;
      }
      const count = state.records.findIndex((r) => r.offset > range.last);
      const rows = count < 0 ? state.records : state.records.slice(0, count);
      await land(state, range, rows);
      state.records = count < 0 ? [] : state.records.slice(count);
      state.replay = null;
      state.openedAt = Date.now();
      if (state.records.length > 0 && !due(state)) return;
    }
  }

  async function land(state: PartitionState, range: Range, rows: RawRecord[]): Promise<void> {
    const buffers = new Map<string, { table: string; buffer: ColumnarBuffer }>();
    for (const record of rows) route(state, record, buffers);
    const topic = encodeURIComponent(state.topic);
    const name = `land-${topic}-${state.partition}-${range.first}.parquet`;
    for (const [key, { buffer }] of buffers) {
      const bytes = await encoder.encode(buffer.toTable(), options.compression);
      // Another lander may write the same file at the same moment (same rows):
      // each writes its own temporary file.
      const path = `${lake}/${key}/${name}`;
      await writeFileAtomic(path, bytes, { tmp: `${path}.${crypto.randomUUID()}.tmp` });
      stats.files++;
    }
    // Fault injection for crash tests and drills: die as kill -9 would, with
    // the range's files written and its offsets not yet committed.
    if (options.killAfterFiles) Deno.kill(Deno.pid, "SIGKILL");
    await consumer.commit({
      offsets: [{
        topic: state.topic,
        partition: state.partition,
        offset: BigInt(range.last + 1),
        leaderEpoch: state.leaderEpoch,
      }],
    });
    stats.commits++;
    logger.debug({ topic: state.topic, partition: state.partition, ...range }, "range landed");
    await prune(state, range.last + 1).catch((error) =>
      logger.warn({ err: String(error) }, "cannot prune range claims")
    );
  }

  const due = (state: PartitionState) =>
    state.records.length > 0 && !state.replay &&
    (state.records.length >= options.flushRows ||
      Date.now() - state.openedAt >= options.flushIntervalMs);

  /** Adds one fetched record; flushes its partition when due. */
  async function consume(
    message: import("@platformatic/kafka").Message<Buffer, Buffer, Buffer, Buffer>,
  ) {
    const { topic, partition } = message;
    // Fetched before a rebalance took the partition away.
    if (stopping || !owned.has(keyOf(topic, partition))) return;
    const offset = Number(message.offset);
    const state = await stateFor(topic, partition, offset);
    if (offset < state.next) return;
    if (state.replay && offset > state.replay.last) {
      state.next = offset; // past the claim's end: flush what it holds
      await flush(state);
    }
    if (state.records.length === 0) state.openedAt = Date.now();
    state.records.push({ offset, value: message.value ?? null, timestamp: message.timestamp });
    stats.records++;
    state.next = offset + 1;
    state.leaderEpoch = message.leaderEpoch;
    if (state.replay ? offset === state.replay.last : due(state)) await flush(state);
  }

  /**
   * Adopts the group's new assignment: partitions taken away drop what they
   * buffered (their next owner reads it again from the committed offset);
   * partitions kept go on where they were. A partition with no committed
   * offset gets its start committed, so that every later rejoin resumes from
   * a committed offset rather than from wherever this lander's fetch was.
   */
  async function assigned(): Promise<void> {
    const assignments = consumer.assignments ?? [];
    owned = new Set(assignments.flatMap((a) => a.partitions.map((p) => keyOf(a.topic, p))));
    for (const key of states.keys()) if (!owned.has(key)) states.delete(key);
    logger.info({
      assigned: Object.fromEntries(assignments.map((a) => [a.topic, [...a.partitions].sort()])),
    }, "partitions assigned");
    if (assignments.length === 0) return;
    const committed = await consumer.listCommittedOffsets({ topics: assignments });
    const starts = await consumer.listOffsets({
      topics: assignments.map((a) => a.topic),
      timestamp: options.fromBeginning ? -2n : -1n,
    });
    const offsets = [];
    for (const a of assignments) {
      for (const partition of a.partitions) {
        if ((committed.get(a.topic)?.[partition] ?? -1n) >= 0n) continue;
        const offset = starts.get(a.topic)?.[partition];
        if (offset !== undefined) {
          offsets.push({ topic: a.topic, partition, offset, leaderEpoch: -1 });
        }
      }
    }
    if (offsets.length > 0) await consumer.commit({ offsets });
  }

  consumer.on("consumer:group:join", () => {
    void locked(assigned).catch((error) =>
      logger.warn({ err: String(error) }, "cannot adopt the new assignment")
    );
  });
  consumer.on("consumer:group:rebalance", () => logger.info("rebalancing"));

  // Partitions that stop receiving records are flushed by age here.
  const timer = setInterval(() => {
    if (stopping) return;
    void locked(async () => {
      for (const state of states.values()) {
        if (stopping) return;
        if (due(state)) await flush(state);
      }
    }).catch((error) => logger.warn({ err: String(error) }, "timed flush failed; will retry"));
  }, Math.max(100, Math.min(1000, options.flushIntervalMs / 4)));

  let lastCount = 0;
  let lastAt = Date.now();
  const progress = setInterval(async () => {
    const now = Date.now();
    const lag: Record<string, number> = {};
    const topics = [...new Set([...states.values()].map((s) => s.topic))];
    if (topics.length > 0) {
      try {
        const ends = await consumer.listOffsets({ topics });
        for (const s of states.values()) {
          const end = ends.get(s.topic)?.[s.partition];
          if (end !== undefined) lag[`${s.topic}/${s.partition}`] = Number(end) - s.next;
        }
      } catch { /* lag is best effort */ }
    }
    const done = stats.records;
    logger.info({
      records_per_s: Math.round(((done - lastCount) * 1000) / Math.max(1, now - lastAt)),
      lag,
      ...stats,
    }, "progress");
    lastCount = done;
    lastAt = now;
  }, options.progressIntervalMs);

  await consumer.joinGroup({});
  await locked(assigned);
  const open = () =>
    consumer.consume({
      topics: options.topics,
      mode: kafka.MessagesStreamModes.COMMITTED,
      fallbackMode: options.fromBeginning
        ? kafka.MessagesStreamFallbackModes.EARLIEST
        : kafka.MessagesStreamFallbackModes.LATEST,
      autocommit: false,
    });
  let stream = await open();
  // The client ends a stream on some broker failures (a killed leader) while
  // the consumer stays in its group: open a new one, which resumes from the
  // committed offsets (what this lander buffered already is skipped).
  const consuming = (async () => {
    while (!stopping) {
      try {
        for await (const message of stream) await locked(() => consume(message));
      } catch (error) {
        if (stopping) return;
        logger.warn({ err: String(error) }, "consumer stream failed; consuming again");
      }
      while (!stopping) {
        await new Promise((r) => setTimeout(r, 500));
        try {
          stream = await open();
          break;
        } catch (error) {
          logger.warn({ err: String(error) }, "cannot consume yet; retrying");
        }
      }
    }
  })();
  logger.info({ group, topics: options.topics, lake, brokers: options.brokers }, "landing");

  return {
    stats: () => ({ ...stats }),
    async stop() {
      stopping = true;
      clearInterval(timer);
      clearInterval(progress);
      // Commit what is complete while the consumer is still in the group. A
      // range being rebuilt is left for the next run.
      await locked(async () => {
        for (const state of states.values()) {
          if (!state.replay) await flush(state);
        }
      }).catch((error) => logger.warn({ err: String(error) }, "final flush failed"));
      await stream.close().catch(() => {});
      await consuming;
      await consumer.close(true).catch(() => {});
      encoder.close();
      logger.info({ ...stats }, "lander stopped");
    },
  };
}

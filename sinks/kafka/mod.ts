/**
 * The Kafka sink (@platformatic/kafka): an idempotent producer with
 * `acks: -1`, so a retry after a lost answer or a leader change never writes
 * an event twice.
 *
 * Events are routed to a topic partition when they arrive (murmur2 of the
 * key, as Kafka's Java client does) and queue in that partition's *lane*.
 * Each lane has at most one Produce request in flight, which keeps its
 * sequence numbers in order; lanes of different partitions are sent in
 * parallel (at most `max_in_flight` at once). While a lane's request is in
 * flight, the events arriving for it form its next batch: group commit across
 * HTTP requests, bounded by `max_batch_events` and `max_batch_bytes`;
 * `linger_ms` can hold a batch back for more. A write resolves only when every
 * partition it touched has acked it.
 *
 * The client retries a failed Produce request (fresh metadata each time, so a
 * new leader is found after a failover) for up to `server.ack_timeout_ms`.
 * A stalled lane refuses new events at once (503): a partition with replicas
 * once its request has waited `server.ack_timeout_ms` (until then a failover
 * may still answer in time), a partition without any after `timeout_ms`. The
 * whole sink refuses while no broker answers; it probes in the background and
 * recovers without a restart.
 *
 * @module
 */
import type { Admin, Producer } from "@platformatic/kafka";
import type { GatewayConfig } from "../../config/mod.ts";
import {
  type Event,
  type Health,
  NO_SINK_METRICS,
  type Sink,
  type SinkContext,
  type SinkDefinition,
  SinkUnavailableError,
} from "../contract.ts";
import { partitionOfKey } from "./_murmur2.ts";
import { type KafkaOptions, kafkaOptions as options } from "./options.ts";

export { KAFKA_COMPRESSIONS, type KafkaOptions } from "./options.ts";

/** Counters for tests and the shutdown log line. */
export interface KafkaStats {
  batches: number;
  produceRequests: number;
  events: number;
}

/** A Kafka sink with its counters. */
export interface KafkaSink extends Sink {
  stats(): KafkaStats;
}

/** One write, waiting for every lane it touched. */
interface Ticket {
  lanes: number;
  settled: boolean;
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface OutRecord {
  topic: string;
  partition: number;
  key: string | undefined;
  value: string;
  headers: Record<string, string>;
  timestamp: bigint;
}

/** One write's records for one lane. */
interface Chunk {
  ticket: Ticket;
  records: OutRecord[];
  bytes: number;
}

/** The queue of one topic partition. */
interface Lane {
  topic: string;
  partition: number;
  chunks: Chunk[];
  events: number;
  bytes: number;
  /** When each request in flight was sent, oldest first. */
  sending: number[];
  /** The producer of the pool this partition sends with now. */
  producer: number;
}

/** When the newest request of `lane` in flight was sent; 0 when none is. */
function newest(lane: Lane): number {
  return lane.sending.length === 0 ? 0 : lane.sending[lane.sending.length - 1]!;
}

/** `list` rotated left by `by`. */
function rotate<T>(list: readonly T[], by: number): T[] {
  const k = by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

/**
 * A record's size in a batch: value, key, the event_type header and Kafka's
 * per-record framing. Counted in UTF-16 units, which matches UTF-8 for ASCII;
 * the default max_batch_bytes leaves 2x headroom under the broker's limit.
 */
function recordBytes(r: OutRecord): number {
  return r.value.length + (r.key?.length ?? 0) + 96;
}

/** The topics a config can produce to: one, or one per event type. */
export function kafkaTopics(opts: KafkaOptions, eventTypes: Iterable<string>): string[] {
  if (!opts.topic.includes("{event_type}")) return [opts.topic];
  return [...new Set([...eventTypes].map((t) => topicFor(opts.topic, t)))];
}

/** The topic of one event type: the template with `{event_type}` filled in. */
function topicFor(template: string, eventType: string): string {
  return template.replaceAll("{event_type}", eventType);
}

/** Replication of created topics: as asked, else 3 capped by the cluster's size. */
export function topicReplication(
  opts: KafkaOptions,
  brokers: number,
): { replicas: number; minInsync: number } {
  const replicas = opts.replication_factor ?? Math.max(1, Math.min(3, brokers));
  return { replicas, minInsync: opts.min_insync_replicas ?? Math.max(1, replicas - 1) };
}

/** The pause between two attempts of a Produce request. */
const RETRY_DELAY_MS = 100;

/**
 * Creates the sink. It waits for its first connection attempt (at most
 * `timeout_ms`), so Herald serves with Kafka ready when Kafka is up; if Kafka
 * is down, Herald starts anyway and the sink keeps trying in the background.
 */
export async function createKafkaSink(
  opts: KafkaOptions,
  context: SinkContext,
): Promise<KafkaSink> {
  const logger = context.logger.child({ sink: "kafka" });
  const metrics = context.metrics ?? NO_SINK_METRICS;
  // Loaded here, not at the top: a Herald without the Kafka sink starts
  // faster without the client's modules.
  const kafka = await import("@platformatic/kafka");
  const base = {
    clientId: opts.client_id,
    bootstrapBrokers: opts.brokers,
    connectTimeout: Math.min(opts.timeout_ms, 3000),
    requestTimeout: opts.timeout_ms,
    timeout: opts.timeout_ms,
  };
  const ackTimeoutMs = context.config.server.ack_timeout_ms;
  // The client keeps one request in flight per broker connection when
  // idempotent, so each producer of the pool (own connections, own producer
  // id) adds a Produce request in flight; a partition uses one at a time.
  // Each starts its bootstrap list at another broker: the client refreshes
  // metadata during Produce retries from the first one only, so a partition
  // whose request hangs moves to the next producer (see `unstick`).
  const producers: Producer<string, string, string, string>[] = Array.from(
    { length: opts.max_in_flight },
    (_, i) =>
      new kafka.Producer({
        ...base,
        bootstrapBrokers: rotate(opts.brokers, i),
        serializers: kafka.stringSerializers,
        idempotent: opts.idempotent,
        acks: kafka.ProduceAcks.ALL,
        compression: opts.compression,
        // Retried with fresh metadata until the client's answer is due anyway.
        retries: Math.max(2, Math.ceil(ackTimeoutMs / RETRY_DELAY_MS)),
        retryDelay: RETRY_DELAY_MS,
        autocreateTopics: false,
      }),
  );
  const producer = producers[0]!;
  const stats: KafkaStats = { batches: 0, produceRequests: 0, events: 0 };
  const topicsOf = (config: GatewayConfig) =>
    kafkaTopics(opts, config.actions.map((a) => a.event_type));
  let topics = topicsOf(context.config);
  /** Partitions of each topic, from the last metadata. */
  const partitionCounts = new Map<string, number>();
  /** Topics whose every partition has more than one replica. */
  const replicated = new Set<string>();
  const lanes = new Map<string, Lane>();
  let inFlight = 0;
  let queuedEvents = 0;
  let linger: ReturnType<typeof setTimeout> | undefined;
  let flushQueued = false;
  let closing = false;

  let state: "down" | "up" | "closed" = "down";
  let lastError = "not connected yet";
  let probe: ReturnType<typeof setTimeout> | undefined;

  async function connect(): Promise<void> {
    probe = undefined;
    if (state !== "down") return;
    try {
      await ensureTopics();
      if (opts.idempotent) await Promise.all(producers.map((p) => p.initIdempotentProducer({})));
      if (state === "down") {
        state = "up";
        logger.info({ brokers: opts.brokers, topics }, "kafka connected");
      }
    } catch (error) {
      connectionFailed(error);
    }
  }

  function connectionFailed(error: unknown): void {
    metrics.error("kafka", "connect");
    markDown(error);
  }

  function markDown(error: unknown): void {
    lastError = describe(error);
    if (state === "up") {
      logger.warn({ err: lastError }, "kafka unavailable; answering 503 until it returns");
    }
    if (state !== "closed") state = "down";
    probe ??= setTimeout(connect, 1000);
  }

  /** Creates the missing topics, then learns every topic's partition count. */
  async function ensureTopics(): Promise<void> {
    // Few quick retries: a probe runs again a second later anyway.
    const admin: Admin = new kafka.Admin({ ...base, retries: 2, retryDelay: RETRY_DELAY_MS });
    try {
      const existing = new Set(await admin.listTopics());
      const missing = topics.filter((t) => !existing.has(t));
      if (missing.length > 0) await createTopics(admin, missing);
    } finally {
      await admin.close();
    }
    const known = await producer.metadata({ topics, forceUpdate: true, retries: 2 });
    for (const topic of topics) {
      const info = known.topics.get(topic);
      if (!info?.partitionsCount) {
        throw new Error(`Topic "${topic}" has no partitions in the metadata`);
      }
      partitionCounts.set(topic, info.partitionsCount);
      if (info.partitions.every((p) => p.replicas.length > 1)) replicated.add(topic);
      else replicated.delete(topic);
    }
  }

  async function createTopics(admin: Admin, missing: string[]): Promise<void> {
    // An empty topic list asks for no topics, but the brokers come along.
    const { brokers } = await admin.metadata({ topics: [], forceUpdate: true });
    const { replicas, minInsync } = topicReplication(opts, brokers.size);
    await admin.createTopics({
      topics: missing,
      partitions: opts.partitions,
      replicas,
      configs: [{ name: "min.insync.replicas", value: String(minInsync) }],
    }).catch((error) => {
      // Another gateway created it first.
      if (!/TOPIC_ALREADY_EXISTS|already exists/i.test(describe(error))) throw error;
    });
    logger.info(
      { topics: missing, partitions: opts.partitions, replicas, min_insync_replicas: minInsync },
      "kafka topics created",
    );
  }

  /** Why events for `lane` are refused now, or null. */
  function refusal(lane: Lane | undefined): string | null {
    if (state !== "up") return `Kafka is unavailable: ${lastError}`;
    if (lane && lane.sending.length > 0) {
      const stalled = Date.now() - newest(lane);
      // A partition with replicas may still fail over in time until the ack timeout.
      const patienceMs = replicated.has(lane.topic) ? ackTimeoutMs : opts.timeout_ms;
      if (stalled > patienceMs) {
        return `Kafka has not acked partition ${lane.topic}/${lane.partition} for ${stalled} ms`;
      }
    }
    return null;
  }

  /** The sink-wide refusal for /readyz: down, or the oldest stalled partition. */
  function unavailable(): string | null {
    let worst: Lane | undefined;
    for (const lane of lanes.values()) {
      if (lane.sending.length > 0 && (!worst || newest(lane) < newest(worst))) worst = lane;
    }
    return refusal(worst);
  }

  function laneOf(topic: string, partition: number): Lane {
    const id = `${topic}\u0000${partition}`;
    let lane = lanes.get(id);
    if (!lane) {
      lane = {
        topic,
        partition,
        chunks: [],
        events: 0,
        bytes: 0,
        sending: [],
        producer: lanes.size % producers.length,
      };
      lanes.set(id, lane);
    }
    return lane;
  }

  // Round-robin position for events without a key, per topic.
  const roundRobin = new Map<string, number>();
  function partitionFor(topic: string, key: string | undefined): number {
    const count = partitionCounts.get(topic) ?? 1;
    if (key === undefined) {
      const next = (roundRobin.get(topic) ?? 0) + 1;
      roundRobin.set(topic, next);
      return next % count;
    }
    return partitionOfKey(key, count);
  }

  /** Lanes with events and no request in flight, in the order they became ready. */
  const ready = new Set<Lane>();

  function flush(): void {
    clearTimeout(linger);
    linger = undefined;
    for (const lane of ready) {
      ready.delete(lane);
      send(lane);
    }
  }

  function send(lane: Lane): void {
    const batch: Chunk[] = [];
    let events = 0;
    let bytes = 0;
    while (lane.chunks.length > 0) {
      const next = lane.chunks[0]!;
      if (
        batch.length > 0 &&
        (events + next.records.length > opts.max_batch_events ||
          bytes + next.bytes > opts.max_batch_bytes)
      ) break;
      batch.push(lane.chunks.shift()!);
      events += next.records.length;
      bytes += next.bytes;
    }
    lane.events -= events;
    lane.bytes -= bytes;
    queuedEvents -= events;
    const messages = batch.length === 1 ? batch[0]!.records : batch.flatMap((c) => c.records);
    const sentAt = Date.now();
    lane.sending.push(sentAt);
    unsticking ??= setInterval(unstick, Math.max(20, Math.min(200, opts.timeout_ms / 10)));
    inFlight++;
    stats.produceRequests++;
    const started = performance.now();
    // acks per call: the client ignores the constructor's acks when not idempotent.
    producers[lane.producer]!.send({ messages, acks: kafka.ProduceAcks.ALL }).then(
      () => {
        stats.batches++;
        stats.events += events;
        metrics.flushed("kafka", events, (performance.now() - started) / 1000);
        for (const chunk of batch) {
          if (--chunk.ticket.lanes === 0) settle(chunk.ticket);
        }
      },
      (error) => {
        const failure = new SinkUnavailableError(`Kafka did not ack: ${describe(error)}`, {
          cause: error,
        });
        metrics.error("kafka", "produce");
        logger.warn(
          { err: failure.message, topic: lane.topic, partition: lane.partition },
          "produce failed",
        );
        for (const chunk of batch) settle(chunk.ticket, failure);
        // Every attempt failed for the whole retry budget: the sink refuses
        // until a probe reaches the cluster again.
        markDown(error);
        failLanes(failure);
      },
    ).finally(() => {
      lane.sending.splice(lane.sending.indexOf(sentAt), 1);
      inFlight--;
      if (inFlight === 0) {
        clearInterval(unsticking);
        unsticking = undefined;
      }
      if (lane.chunks.length > 0 && lane.sending.length === 0) ready.add(lane);
      if (ready.size > 0) flush();
    });
  }

  /**
   * A partition with replicas whose newest request has hung past
   * `timeout_ms` sends what waited behind it with the next producer of the
   * pool (another producer id, so its sequence numbers are its own): the hung
   * request's producer may be refreshing metadata from a hung broker while
   * another leader has taken over. Order between the two requests is lost;
   * no event is lost or written twice. A partition without replicas has no
   * other leader to find: it refuses instead (see `refusal`).
   */
  let unsticking: ReturnType<typeof setInterval> | undefined;
  function unstick(): void {
    const now = Date.now();
    for (const lane of lanes.values()) {
      if (
        lane.chunks.length > 0 && lane.sending.length > 0 && replicated.has(lane.topic) &&
        lane.sending.length < producers.length && now - newest(lane) > opts.timeout_ms
      ) {
        lane.producer = (lane.producer + 1) % producers.length;
        ready.delete(lane);
        send(lane);
      }
    }
  }

  function settle(ticket: Ticket, error?: unknown): void {
    if (ticket.settled) return;
    ticket.settled = true;
    if (error === undefined) ticket.resolve();
    else ticket.reject(error);
  }

  function failLanes(error: SinkUnavailableError): void {
    for (const lane of lanes.values()) {
      for (const chunk of lane.chunks) settle(chunk.ticket, error);
      queuedEvents -= lane.events;
      lane.chunks = [];
      lane.events = 0;
      lane.bytes = 0;
    }
    ready.clear();
  }

  function scheduleFlush(full: boolean): void {
    if (full) flush();
    else if (opts.linger_ms > 0) linger ??= setTimeout(flush, opts.linger_ms);
    else if (!flushQueued) {
      // Group commit: send as soon as the lane is free; while its request is
      // in flight, events pile up into its next batch.
      flushQueued = true;
      queueMicrotask(() => {
        flushQueued = false;
        flush();
      });
    }
  }

  function write(events: readonly Event[]): Promise<void> {
    if (closing) return Promise.reject(new SinkUnavailableError("Kafka sink is closing"));
    if (events.length === 0) return Promise.resolve();
    const down = refusal(undefined);
    if (down) return Promise.reject(new SinkUnavailableError(down));
    if (queuedEvents + events.length > opts.max_pending_events) {
      return Promise.reject(
        new SinkUnavailableError(`Kafka queue is full: ${queuedEvents} events pending`),
      );
    }
    // Route every event first, so a refused write queues nothing.
    const byLane = new Map<Lane, OutRecord[]>();
    for (const event of events) {
      const eventType = String(event.event_type);
      const topic = topicFor(opts.topic, eventType);
      const rawKey = event[opts.key];
      const key = rawKey === null || rawKey === undefined ? undefined : String(rawKey);
      const partition = partitionFor(topic, key);
      const lane = laneOf(topic, partition);
      const stalled = refusal(lane);
      if (stalled) return Promise.reject(new SinkUnavailableError(stalled));
      const record: OutRecord = {
        topic,
        partition,
        key,
        value: JSON.stringify(event),
        headers: { event_type: eventType },
        timestamp: BigInt(Date.parse(String(event.received_at)) || Date.now()),
      };
      const list = byLane.get(lane);
      if (list) list.push(record);
      else byLane.set(lane, [record]);
    }
    return new Promise<void>((resolve, reject) => {
      const ticket: Ticket = { lanes: byLane.size, settled: false, resolve, reject };
      let full = false;
      for (const [lane, records] of byLane) {
        let bytes = 0;
        for (const r of records) bytes += recordBytes(r);
        lane.chunks.push({ ticket, records, bytes });
        lane.events += records.length;
        lane.bytes += bytes;
        if (lane.sending.length === 0) ready.add(lane);
        if (lane.events >= opts.max_batch_events || lane.bytes >= opts.max_batch_bytes) {
          full = true;
        }
      }
      queuedEvents += events.length;
      scheduleFlush(full);
    });
  }

  let giveUp: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    connect(),
    new Promise<void>((resolve) => (giveUp = setTimeout(resolve, opts.timeout_ms))),
  ]);
  clearTimeout(giveUp);

  return {
    name: "kafka",
    write,
    async close() {
      closing = true;
      while (queuedEvents > 0 || inFlight > 0) {
        flush();
        await new Promise((r) => setTimeout(r, 5));
      }
      state = "closed";
      clearTimeout(probe);
      clearTimeout(linger);
      clearInterval(unsticking);
      await Promise.all(producers.map((p) => p.close(true).catch(() => {})));
      logger.info({ ...stats }, "kafka sink closed");
    },
    health(): Promise<Health> {
      const refused = unavailable();
      return Promise.resolve(refused ? { ok: false, detail: refused } : { ok: true });
    },
    stats: () => ({ ...stats }),
    load: () => ({ queued: queuedEvents, limit: opts.max_pending_events, unit: "events" }),
    async reconfigure(config) {
      const next = topicsOf(config);
      if (next.every((t) => topics.includes(t))) return;
      topics = [...new Set([...topics, ...next])];
      // While Kafka is down, the next connection creates them.
      if (state === "up") await ensureTopics().catch(connectionFailed);
    },
  };
}

/** An error's message, with the causes the client nests inside it. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const nested = (error as { errors?: unknown[] }).errors;
  const last = Array.isArray(nested) && nested.length > 0 ? nested[nested.length - 1] : undefined;
  return last instanceof Error && last !== error
    ? `${error.message}: ${describe(last)}`
    : error.message;
}

/** Registry entry of the Kafka sink. */
export const kafkaSink: SinkDefinition<KafkaOptions> = {
  name: "kafka",
  options,
  fromEnv(opts, env) {
    const brokers = env("KAFKA_BROKERS")?.split(",").map((b) => b.trim()).filter(Boolean);
    return brokers?.length ? { ...opts, brokers } : opts;
  },
  create: createKafkaSink,
};

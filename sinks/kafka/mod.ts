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
 * once its current request has waited `server.ack_timeout_ms` and no producer
 * of the pool is left to move it to (until then a failover may still answer
 * in time), a partition without any after `timeout_ms`. The whole sink
 * refuses while no broker answers; it probes in the background and recovers
 * without a restart.
 *
 * @module
 */
import type { Admin, Producer } from "@platformatic/kafka";
import { type GatewayConfig, sinkActions } from "../../config/mod.ts";
import {
  type Event,
  type Health,
  NO_SINK_METRICS,
  type Sink,
  type SinkContext,
  type SinkDefinition,
  SinkUnavailableError,
} from "../contract.ts";
import { type KafkaOptions, kafkaOptions as options } from "./options.ts";
import { Connection } from "./health.ts";
import { type Lane, Lanes } from "./lanes.ts";
import { RETRY_DELAY_MS, rotate, Sender } from "./producer.ts";
import { kafkaTopics, type OutRecord, recordOf, TopicLayout } from "./routing.ts";

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

export { kafkaTopics, topicReplication } from "./routing.ts";

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
  // whose request hangs moves to the next producer (see `Sender` in producer.ts).
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
  // Few quick retries: a probe runs again a second later anyway.
  const openAdmin = (): Admin =>
    new kafka.Admin({ ...base, retries: 2, retryDelay: RETRY_DELAY_MS });
  const topicsOf = (config: GatewayConfig) =>
    kafkaTopics(opts, sinkActions(config).map((a) => a.event_type));
  const layout = new TopicLayout();
  const connection = new Connection({
    brokers: opts.brokers,
    idempotent: opts.idempotent,
    timeoutMs: opts.timeout_ms,
    ackTimeoutMs,
    nextProducer: (lane) => sender.nextProducer(lane),
    topics: {
      partitions: opts.partitions,
      replication_factor: opts.replication_factor,
      min_insync_replicas: opts.min_insync_replicas,
    },
    producers,
    openAdmin,
    layout,
    metrics,
    logger,
  }, topicsOf(context.config));
  const lanes: Lanes = new Lanes(
    { maxEvents: opts.max_batch_events, maxBytes: opts.max_batch_bytes, lingerMs: opts.linger_ms },
    producers.length,
    (lane) => sender.send(lane),
  );
  const sender = new Sender({
    producers,
    brokers: opts.brokers,
    lanes,
    // acks per call: the client ignores the constructor's acks when not idempotent.
    acks: kafka.ProduceAcks.ALL,
    timeoutMs: opts.timeout_ms,
    isReplicated: (topic) => layout.isReplicated(topic),
    onFailure(error, failure) {
      connection.markDown(error);
      lanes.failAll(failure);
    },
    metrics,
    logger,
  });
  let closing = false;

  function write(events: readonly Event[]): Promise<void> {
    if (closing) return Promise.reject(new SinkUnavailableError("Kafka sink is closing"));
    if (events.length === 0) return Promise.resolve();
    const down = connection.refusal(undefined);
    if (down) return Promise.reject(new SinkUnavailableError(down));
    if (lanes.queued + events.length > opts.max_pending_events) {
      return Promise.reject(
        new SinkUnavailableError(`Kafka queue is full: ${lanes.queued} events pending`),
      );
    }
    // Route every event first, so a refused write queues nothing.
    const byLane = new Map<Lane, OutRecord[]>();
    for (const event of events) {
      const target = layout.target(event, opts.topic, opts.key);
      const lane = lanes.laneOf(target.topic, target.partition);
      const stalled = connection.refusal(lane);
      if (stalled) return Promise.reject(new SinkUnavailableError(stalled));
      const record = recordOf(event, target);
      const list = byLane.get(lane);
      if (list) list.push(record);
      else byLane.set(lane, [record]);
    }
    return new Promise<void>((resolve, reject) => {
      lanes.enqueue({ lanes: byLane.size, settled: false, resolve, reject }, byLane, events.length);
    });
  }

  let giveUp: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    connection.connect(),
    new Promise<void>((resolve) => (giveUp = setTimeout(resolve, opts.timeout_ms))),
  ]);
  clearTimeout(giveUp);

  return {
    name: "kafka",
    write,
    async close() {
      closing = true;
      while (lanes.queued > 0 || sender.inFlight > 0) {
        lanes.flush();
        await new Promise((r) => setTimeout(r, 5));
      }
      connection.close();
      lanes.close();
      sender.close();
      await Promise.all(producers.map((p) => p.close(true).catch(() => {})));
      logger.info({ ...sender.counts }, "kafka sink closed");
    },
    health(): Promise<Health> {
      const refused = connection.unavailable(lanes);
      return Promise.resolve(refused ? { ok: false, detail: refused } : { ok: true });
    },
    stats: () => ({ ...sender.counts }),
    load: () => ({ queued: lanes.queued, limit: opts.max_pending_events, unit: "events" }),
    async reconfigure(config) {
      const next = topicsOf(config);
      if (next.every((t) => connection.topics.includes(t))) return;
      connection.topics = [...new Set([...connection.topics, ...next])];
      // While Kafka is down, the next connection creates them.
      if (connection.state === "up") {
        await connection.ensureTopics().catch((error) => connection.failed(error));
      }
    },
  };
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

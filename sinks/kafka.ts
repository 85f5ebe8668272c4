/**
 * The Kafka sink (kafkajs): events from many HTTP requests are batched into
 * one Produce request. At most `max_in_flight` requests are in flight; events
 * arriving meanwhile form the next batch (bounded by `max_batch_events` and
 * `max_batch_bytes`), and `linger_ms` can hold a batch back for more,
 * sent with `acks: -1`, and each write resolves only when the broker acked its
 * batch. While the broker is unreachable the sink fails writes at once (503)
 * and probes the broker in the background; it recovers without a restart.
 *
 * @module
 */
import type { Message, Producer, TopicMessages } from "kafkajs";
import {
  type Infer,
  list,
  number,
  object,
  positiveInt,
  string,
  withDefault,
} from "../config/schema.ts";
import type { GatewayConfig } from "../config/mod.ts";
import { NO_SINK_METRICS } from "../ops/metrics.ts";
import { SinkUnavailableError } from "./errors.ts";
import type { Event, Health, Sink, SinkContext, SinkDefinition } from "./mod.ts";

const options = object({
  brokers: withDefault(list(string({ minLength: 1 }), { min: 1 }), ["127.0.0.1:9092"]),
  /** Topic name; `{event_type}` in it routes each event type to its own topic. */
  topic: withDefault(
    string({ pattern: /^[A-Za-z0-9._{}-]+$/, hint: "a Kafka topic name" }),
    "events",
  ),
  /** Event field whose value is the record key. */
  key: withDefault(string({ minLength: 1 }), "host"),
  client_id: withDefault(string({ minLength: 1 }), "herald"),
  /** 0: send whenever a Produce slot is free (group commit); more: also wait this long for a fuller batch. */
  linger_ms: withDefault(number({ integer: true, min: 0, max: 60000 }), 0),
  max_batch_events: withDefault(positiveInt(), 10000),
  /**
   * Record bytes per Produce request (value, key, headers and per-record
   * overhead). Keep it under the broker's `message.max.bytes` (1 MiB by default),
   * which counts the whole record batch.
   */
  max_batch_bytes: withDefault(positiveInt(), 512 * 1024),
  /** Events allowed to wait for Kafka; past this, writes get 503 instead of memory growing. */
  max_pending_events: withDefault(positiveInt(), 100000),
  /** Produce requests in flight at once. */
  max_in_flight: withDefault(positiveInt(64), 1),
  timeout_ms: withDefault(positiveInt(), 5000),
  compression: withDefault(string({ values: ["none", "gzip"] }), "none"),
  partitions: withDefault(positiveInt(), 1),
  replication_factor: withDefault(positiveInt(), 1),
});

/** Options of the `kafka:` config section. */
export type KafkaOptions = Infer<typeof options>;

interface Pending {
  topicMessages: Map<string, Message[]>;
  count: number;
  bytes: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

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

/**
 * A record's size in a batch: value, key, the event_type header and Kafka's
 * per-record framing. Counted in UTF-16 units, which matches UTF-8 for ASCII;
 * the default max_batch_bytes leaves 2x headroom under the broker's limit.
 */
function recordBytes(m: Message): number {
  return (m.value as string).length + ((m.key as string | null)?.length ?? 0) + 96;
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
  // faster without kafkajs (about 50 ms of module loading).
  const { CompressionTypes, Kafka, logLevel, Partitioners } = await import("kafkajs");
  const kafka = new Kafka({
    clientId: opts.client_id,
    brokers: opts.brokers,
    connectionTimeout: Math.min(opts.timeout_ms, 3000),
    requestTimeout: opts.timeout_ms,
    retry: { retries: 2, initialRetryTime: 100, maxRetryTime: opts.timeout_ms },
    logLevel: logLevel.WARN,
    logCreator: () => ({ log, namespace }) =>
      logger.debug({ kafkajs: namespace, ...log }, log.message),
  });
  const topicsOf = (config: GatewayConfig) =>
    kafkaTopics(opts, config.actions.map((a) => a.event_type));
  let topics = topicsOf(context.config);
  const producer: Producer = kafka.producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  const stats: KafkaStats = { batches: 0, produceRequests: 0, events: 0 };
  producer.on(producer.events.REQUEST, (e) => {
    if (e.payload.apiName === "Produce") stats.produceRequests++;
  });

  let state: "down" | "up" | "closed" = "down";
  let lastError = "not connected yet";
  let probe: ReturnType<typeof setTimeout> | undefined;
  let queue: Pending[] = [];
  let queuedEvents = 0;
  let queuedBytes = 0;
  let linger: ReturnType<typeof setTimeout> | undefined;
  let flushQueued = false;
  /** Produce requests in flight, with the time each was sent. */
  const inFlight = new Map<Promise<void>, number>();

  /** How long the oldest Produce request in flight has waited for its ack (0: none). */
  function stalledMs(): number {
    let oldest = Infinity;
    for (const sentAt of inFlight.values()) oldest = Math.min(oldest, sentAt);
    return oldest === Infinity ? 0 : Date.now() - oldest;
  }

  async function connect(): Promise<void> {
    probe = undefined;
    if (state !== "down") return;
    try {
      // The producer's connection and the topic check are independent: doing
      // them at once takes one round of handshakes off Herald's startup.
      await Promise.all([producer.connect(), ensureTopics()]);
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

  /**
   * Why writes are refused now, or null. A hung broker (stopped, partitioned)
   * keeps its socket open, so a Produce request unanswered past `timeout_ms`
   * counts as down: clients get 503 at once instead of waiting for the ack timeout.
   */
  function unavailable(): string | null {
    if (state !== "up") return `Kafka is unavailable: ${lastError}`;
    const stalled = stalledMs();
    return stalled > opts.timeout_ms
      ? `Kafka has not acked a Produce request for ${stalled} ms`
      : null;
  }

  async function ensureTopics(): Promise<void> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const missing = topics.filter((topic) => !existing.has(topic));
      if (missing.length === 0) return;
      await admin.createTopics({
        topics: missing.map((topic) => ({
          topic,
          numPartitions: opts.partitions,
          replicationFactor: opts.replication_factor,
        })),
        waitForLeaders: true,
      });
    } finally {
      await admin.disconnect();
    }
  }

  function markDown(error: unknown): void {
    lastError = error instanceof Error ? error.message : String(error);
    if (state === "up") {
      logger.warn({ err: lastError }, "kafka unavailable; answering 503 until it returns");
    }
    if (state !== "closed") state = "down";
    probe ??= setTimeout(connect, 1000);
  }

  function failQueued(error: SinkUnavailableError): void {
    for (const p of queue) p.reject(error);
    queue = [];
    queuedEvents = 0;
    queuedBytes = 0;
  }

  function flush(): void {
    clearTimeout(linger);
    linger = undefined;
    while (queue.length > 0 && inFlight.size < opts.max_in_flight) {
      const batch: Pending[] = [];
      let events = 0;
      let bytes = 0;
      while (queue.length > 0) {
        const next = queue[0]!;
        if (
          batch.length > 0 &&
          (events + next.count > opts.max_batch_events || bytes + next.bytes > opts.max_batch_bytes)
        ) break;
        batch.push(queue.shift()!);
        events += next.count;
        bytes += next.bytes;
      }
      queuedEvents -= events;
      queuedBytes -= bytes;
      const sending = send(batch, events).finally(() => {
        inFlight.delete(sending);
        if (queue.length > 0) flush();
      });
      inFlight.set(sending, Date.now());
    }
  }

  async function send(batch: Pending[], events: number): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    for (const p of batch) {
      for (const [topic, messages] of p.topicMessages) {
        const list = byTopic.get(topic);
        if (list) list.push(...messages);
        else byTopic.set(topic, [...messages]);
      }
    }
    const topicMessages: TopicMessages[] = [...byTopic].map(([topic, messages]) => ({
      topic,
      messages,
    }));
    const started = performance.now();
    try {
      await producer.sendBatch({
        topicMessages,
        acks: -1,
        timeout: opts.timeout_ms,
        compression: opts.compression === "gzip" ? CompressionTypes.GZIP : CompressionTypes.None,
      });
      stats.batches++;
      stats.events += events;
      metrics.flushed("kafka", events, (performance.now() - started) / 1000);
      for (const p of batch) p.resolve();
    } catch (error) {
      const failure = new SinkUnavailableError(`Kafka did not ack: ${(error as Error).message}`, {
        cause: error,
      });
      for (const p of batch) p.reject(failure);
      metrics.error("kafka", "produce");
      markDown(error);
      failQueued(failure);
    }
  }

  function toMessages(events: readonly Event[]): Pending["topicMessages"] {
    const out = new Map<string, Message[]>();
    for (const event of events) {
      const topic = topicFor(opts.topic, String(event.event_type));
      const key = event[opts.key];
      const message: Message = {
        key: key === null || key === undefined ? null : String(key),
        value: JSON.stringify(event),
        headers: { event_type: String(event.event_type) },
        timestamp: String(Date.parse(String(event.received_at)) || Date.now()),
      };
      const list = out.get(topic);
      if (list) list.push(message);
      else out.set(topic, [message]);
    }
    return out;
  }

  let giveUp: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    connect(),
    new Promise<void>((resolve) => (giveUp = setTimeout(resolve, opts.timeout_ms))),
  ]);
  clearTimeout(giveUp);

  return {
    name: "kafka",
    write(events) {
      const refused = unavailable();
      if (refused) return Promise.reject(new SinkUnavailableError(refused));
      if (queuedEvents + events.length > opts.max_pending_events) {
        return Promise.reject(
          new SinkUnavailableError(`Kafka queue is full: ${queuedEvents} events pending`),
        );
      }
      const topicMessages = toMessages(events);
      let bytes = 0;
      for (const messages of topicMessages.values()) {
        for (const m of messages) bytes += recordBytes(m);
      }
      return new Promise<void>((resolve, reject) => {
        queue.push({ topicMessages, count: events.length, bytes, resolve, reject });
        queuedEvents += events.length;
        queuedBytes += bytes;
        if (queuedEvents >= opts.max_batch_events || queuedBytes >= opts.max_batch_bytes) flush();
        else if (opts.linger_ms > 0) linger ??= setTimeout(flush, opts.linger_ms);
        else if (!flushQueued) {
          // Group commit: send as soon as a Produce slot is free; while all
          // slots are busy, events pile up into the next batch.
          flushQueued = true;
          queueMicrotask(() => {
            flushQueued = false;
            flush();
          });
        }
      });
    },
    async close() {
      while (queue.length > 0 || inFlight.size > 0) {
        flush();
        await Promise.allSettled([...inFlight.keys()]);
      }
      state = "closed";
      clearTimeout(probe);
      clearTimeout(linger);
      await producer.disconnect().catch(() => {});
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

/**
 * The `kafka:` config section: the Kafka sink's options.
 *
 * @module
 */
import {
  boolean,
  type Infer,
  list,
  number,
  object,
  optional,
  positiveInt,
  string,
  withDefault,
} from "../../config/schema.ts";

/** Compression codecs of Produce requests. */
export const KAFKA_COMPRESSIONS = ["none", "gzip", "snappy", "lz4", "zstd"] as const;

/** The `kafka:` config section. */
export const kafkaOptions = object({
  brokers: withDefault(list(string({ minLength: 1 }), { min: 1 }), ["127.0.0.1:9092"]),
  /** Topic name; `{event_type}` in it routes each event type to its own topic. */
  topic: withDefault(
    string({ pattern: /^[A-Za-z0-9._{}-]+$/, hint: "a Kafka topic name" }),
    "events",
  ),
  /** Event field whose value is the record key (and so picks the partition). */
  key: withDefault(string({ minLength: 1 }), "host"),
  client_id: withDefault(string({ minLength: 1 }), "herald"),
  /** 0: send whenever the partition's lane is free (group commit); more: also wait this long for a fuller batch. */
  linger_ms: withDefault(number({ integer: true, min: 0, max: 60000 }), 0),
  /** Events per Produce request of one partition. */
  max_batch_events: withDefault(positiveInt(), 10000),
  /**
   * Record bytes per partition batch (value, key, headers and per-record
   * overhead). Keep it under the broker's `message.max.bytes` (1 MiB by
   * default), which counts the whole record batch.
   */
  max_batch_bytes: withDefault(positiveInt(), 512 * 1024),
  /** Events allowed to wait for Kafka; past this, writes get 503 instead of memory growing. */
  max_pending_events: withDefault(positiveInt(), 100000),
  /**
   * Produce requests in flight at once: a pool of this many producers, each
   * with its own connections; one request per partition at most.
   */
  max_in_flight: withDefault(positiveInt(16), 4),
  /**
   * Request timeout. A partition without a replica to fail over to that has
   * not answered for this long refuses new events at once (503).
   */
  timeout_ms: withDefault(positiveInt(), 2000),
  compression: withDefault(string({ values: KAFKA_COMPRESSIONS }), "none"),
  /** Idempotent producer (`acks: -1`, no duplicates on retry); false only for brokers that refuse it. */
  idempotent: withDefault(boolean(), true),
  /** Partitions of the topics Herald creates. */
  partitions: withDefault(positiveInt(), 3),
  /** Replicas of the topics Herald creates (default: 3, or fewer brokers if the cluster is smaller). */
  replication_factor: optional(positiveInt()),
  /** `min.insync.replicas` of the topics Herald creates (default: replication_factor - 1, at least 1). */
  min_insync_replicas: optional(positiveInt()),
});

/** Options of the `kafka:` config section. */
export type KafkaOptions = Infer<typeof kafkaOptions>;

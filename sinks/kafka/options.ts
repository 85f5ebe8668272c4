/**
 * The `kafka:` config section: the Kafka sink's options.
 *
 * @module
 */
import {
  boolean,
  codeList,
  doc,
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
  brokers: doc(
    withDefault(list(string({ minLength: 1 }), { min: 1 }), ["127.0.0.1:9092"]),
    "bootstrap brokers (env `KAFKA_BROKERS`)",
  ),
  topic: doc(
    withDefault(string({ pattern: /^[A-Za-z0-9._{}-]+$/, hint: "a Kafka topic name" }), "events"),
    "topic; `{event_type}` in it gives each event type its own topic (`game.{event_type}`)",
  ),
  // The record key picks the partition.
  key: doc(
    withDefault(string({ minLength: 1 }), "host"),
    "event field used as the record key (`null` when absent)",
  ),
  client_id: doc(
    withDefault(string({ minLength: 1 }), "herald"),
    "Kafka client id (the lander uses it with `-lander` appended)",
  ),
  linger_ms: doc(
    withDefault(number({ integer: true, min: 0, max: 60000 }), 0),
    "0: a partition's batch leaves as soon as its lane is free (group commit); " +
      "more (up to 60000): it also waits this long",
  ),
  max_batch_events: doc(
    withDefault(positiveInt(), 10000),
    "events per Produce request of one partition, at most",
  ),
  // Record bytes count value, key, headers and per-record overhead; the broker's limit
  // counts the whole record batch.
  max_batch_bytes: doc(
    withDefault(positiveInt(), 512 * 1024),
    "record bytes per partition batch, at most (keep under the broker's `message.max.bytes`, " +
      "1 MiB by default)",
  ),
  // A bound instead of memory growing while Kafka is slow or down.
  max_pending_events: doc(
    withDefault(positiveInt(), 100000),
    "events waiting for Kafka; past it, 503",
  ),
  // Each producer of the pool has its own connections.
  max_in_flight: doc(
    withDefault(positiveInt(16), 4),
    "Produce requests in flight at once (1 to 16): a pool of this many producers, " +
      "one request per partition at most",
  ),
  timeout_ms: doc(
    withDefault(positiveInt(), 2000),
    "request timeout; a partition with no replica to fail over to that is unanswered this long " +
      "refuses at once",
  ),
  compression: doc(
    withDefault(string({ values: KAFKA_COMPRESSIONS }), "none"),
    codeList(KAFKA_COMPRESSIONS),
  ),
  // `acks: -1` with sequence numbers.
  idempotent: doc(
    withDefault(boolean(), true),
    "idempotent producer (no duplicates on retry); false only for a broker that refuses it",
  ),
  partitions: doc(withDefault(positiveInt(), 3), "partitions of topics Herald creates"),
  replication_factor: doc(
    optional(positiveInt()),
    "replication factor of topics Herald creates",
    { default: "3, capped by the brokers" },
  ),
  min_insync_replicas: doc(
    optional(positiveInt()),
    "`min.insync.replicas` of topics Herald creates (at least 1)",
    { default: "replication factor - 1" },
  ),
});

/** Options of the `kafka:` config section. */
export type KafkaOptions = Infer<typeof kafkaOptions>;

/**
 * A local Kafka for users without Docker, as a library: one KRaft node
 * ({@linkcode startKafka}) or a cluster ({@linkcode startKafkaCluster}) from
 * Maven Central jars, and a topic reader and writer. `main.ts` is
 * `deno task kafka`.
 *
 * @module
 */
export { DEFAULT_KAFKA_VERSION, type NodeSpec, randomClusterId } from "./config.ts";
export { ensureKafkaJars, type EnsureKafkaJarsOptions } from "./jars.ts";
export {
  type KafkaBroker,
  startKafka,
  type StartKafkaOptions,
  startNode,
  type StartNodeOptions,
} from "./node.ts";
export { portIsFree } from "./ports.ts";
export { stopPid } from "./process.ts";
export { type BrokerRecord, isBrokerOf, isFormatted, readBrokerRecord } from "./status.ts";
export {
  clusterProperties,
  clusterStatus,
  type KafkaCluster,
  nodeDir,
  SESSION_TIMEOUT_MS,
  type StartClusterOptions,
  startKafkaCluster,
} from "./cluster.ts";
export { type ReadRecord, readTopics } from "./read.ts";
export { createTopic, produceValues } from "./write.ts";

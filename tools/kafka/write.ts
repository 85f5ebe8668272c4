/**
 * Writes test data straight to Kafka, past Herald: what the lander's tests
 * and bench rows start from (raw values, poison records, a backlog).
 *
 * @module
 */
import { Admin, Producer, stringSerializers } from "@platformatic/kafka";

/** Creates `topic` with `partitions` partitions and one replica. */
export async function createTopic(brokers: string, topic: string, partitions = 1): Promise<void> {
  const admin = new Admin({ clientId: "herald-tools", bootstrapBrokers: brokers.split(",") });
  try {
    await admin.createTopics({ topics: [topic], partitions, replicas: 1 });
  } finally {
    await admin.close();
  }
}

/**
 * Writes `values` to partition 0 of `topic`, in order, with an idempotent
 * producer; 2000 records of a few hundred bytes per request stay under the
 * broker's 1 MiB `message.max.bytes`.
 */
export async function produceValues(
  brokers: string,
  topic: string,
  values: readonly string[],
): Promise<void> {
  const producer = new Producer({
    clientId: "herald-tools",
    bootstrapBrokers: brokers.split(","),
    serializers: stringSerializers,
    idempotent: true,
  });
  try {
    for (let i = 0; i < values.length; i += 2000) {
      await producer.send({
        messages: values.slice(i, i + 2000).map((value) => ({ topic, value, partition: 0 })),
      });
    }
  } finally {
    await producer.close();
  }
}

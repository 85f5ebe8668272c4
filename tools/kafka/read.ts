/**
 * Reads topics back to their end: what the tests and the drills' oracle use
 * to see exactly what Kafka holds. The end offsets are taken first, so the
 * read is complete and bounded; no idle wait guesses when it is done.
 *
 * @module
 */
import { Consumer, MessagesStreamModes, stringDeserializers } from "@platformatic/kafka";

/** One record as read back. */
export interface ReadRecord {
  topic: string;
  partition: number;
  offset: bigint;
  key: string | null;
  value: string;
  headers: Record<string, string>;
  timestamp: bigint;
}

/**
 * Every record of `topics`, from the beginning up to the end offsets they
 * have when the call starts. Throws if that end is not reached in `timeoutMs`.
 */
export async function readTopics(
  brokers: string | string[],
  topics: string[],
  options: { timeoutMs?: number } = {},
): Promise<ReadRecord[]> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const consumer = new Consumer({
    clientId: "herald-reader",
    groupId: `herald-reader-${crypto.randomUUID()}`,
    bootstrapBrokers: typeof brokers === "string" ? brokers.split(",") : brokers,
    deserializers: stringDeserializers,
    autocommit: false,
    maxWaitTime: 200,
  });
  const records: ReadRecord[] = [];
  try {
    const ends = await consumer.listOffsets({ topics });
    const remaining = new Map<string, bigint>();
    for (const [topic, offsets] of ends) {
      offsets.forEach((end, partition) => {
        if (end > 0n) remaining.set(`${topic}/${partition}`, end);
      });
    }
    if (remaining.size === 0) return records;
    const stream = await consumer.consume({ topics, mode: MessagesStreamModes.EARLIEST });
    const timer = setTimeout(() => stream.destroy(new Error("timeout")), timeoutMs);
    try {
      for await (const message of stream) {
        const headers: Record<string, string> = {};
        for (const [k, v] of message.headers) headers[k] = v;
        records.push({
          topic: message.topic,
          partition: message.partition,
          offset: message.offset,
          key: message.key ?? null,
          value: message.value ?? "",
          headers,
          timestamp: message.timestamp,
        });
        const id = `${message.topic}/${message.partition}`;
        const end = remaining.get(id);
        if (end !== undefined && message.offset + 1n >= end) remaining.delete(id);
        if (remaining.size === 0) break;
      }
    } catch (error) {
      if ((error as Error).message !== "timeout") throw error;
    } finally {
      clearTimeout(timer);
      await stream.close().catch(() => {});
    }
    if (remaining.size > 0) {
      throw new Error(
        `Kafka topics ${topics.join(", ")} not read to their end within ${timeoutMs} ms: ` +
          `${[...remaining.keys()].join(", ")} short`,
      );
    }
    return records;
  } finally {
    await consumer.close(true).catch(() => {});
  }
}

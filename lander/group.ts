/**
 * The lander in its consumer group: the consumer (no autocommit, static
 * membership when given an instance id), adopting each new assignment, and
 * committing offsets to the group.
 *
 * @module
 */
import type { Consumer, GroupAssignment } from "@platformatic/kafka";
import type { Logger } from "pino";
import type { Range } from "./claims.ts";

/** The lander's consumer: raw bytes in, nothing decoded. */
export type RawConsumer = Consumer<Buffer, Buffer, Buffer, Buffer>;

/** The client library, loaded when the lander starts. */
export type KafkaClient = typeof import("@platformatic/kafka");

/** How the consumer joins its group. */
export interface ConsumerSettings {
  clientId: string;
  group: string;
  brokers: string[];
  sessionTimeoutMs: number;
  /** Static group membership: a restart with the same id keeps the partitions (null: dynamic). */
  instanceId: string | null;
}

/** A consumer of `settings.group` that commits only what the lander commits. */
export function createConsumer(kafka: KafkaClient, settings: ConsumerSettings): RawConsumer {
  return new kafka.Consumer({
    clientId: settings.clientId,
    groupId: settings.group,
    bootstrapBrokers: settings.brokers,
    // Static membership: a lander restarted with the same id gets its
    // partitions back at once instead of after the session timeout.
    groupInstanceId: settings.instanceId ?? undefined,
    sessionTimeout: settings.sessionTimeoutMs,
    heartbeatInterval: Math.min(1000, Math.floor(settings.sessionTimeoutMs / 3)),
    rebalanceTimeout: Math.max(10_000, settings.sessionTimeoutMs),
    autocommit: false,
    maxWaitTime: 500,
    maxBytes: 32 * 1024 * 1024,
    maxBytesPerPartition: 8 * 1024 * 1024,
  });
}

/**
 * Adopts the group's new assignment: `adopt` is given the partitions this
 * lander owns now (partitions taken away drop what they buffered: their next
 * owner reads it again from the committed offset; partitions kept go on
 * where they were). A partition with no committed offset gets its start
 * committed, so that every later rejoin resumes from a committed offset
 * rather than from wherever this lander's fetch was.
 */
export async function adoptAssignment(
  consumer: RawConsumer,
  adopt: (assignments: readonly GroupAssignment[]) => void,
  options: { fromBeginning: boolean; logger: Logger },
): Promise<void> {
  const assignments = consumer.assignments ?? [];
  adopt(assignments);
  options.logger.info({
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

/** Commits past `range` of a partition read at `leaderEpoch`: the group resumes after it. */
export async function commitPast(
  consumer: RawConsumer,
  at: { topic: string; partition: number; leaderEpoch: number },
  range: Range,
): Promise<void> {
  await consumer.commit({
    offsets: [{
      topic: at.topic,
      partition: at.partition,
      offset: BigInt(range.last + 1),
      leaderEpoch: at.leaderEpoch,
    }],
  });
}

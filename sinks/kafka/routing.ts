/**
 * Topic routing of the Kafka sink: which topic an event goes to (one, or one
 * per event type), which partition (murmur2 of the key, as Kafka's Java client
 * does; round robin without a key), and the record it becomes.
 *
 * @module
 */
import type { Event } from "../contract.ts";
import { partitionOfKey } from "./_murmur2.ts";

/** A record for one topic partition, as the client sends it. */
export interface OutRecord {
  topic: string;
  partition: number;
  key: string | undefined;
  value: string;
  headers: Record<string, string>;
  timestamp: bigint;
}

/**
 * A record's size in a batch: value, key, the event_type header and Kafka's
 * per-record framing. Counted in UTF-16 units, which matches UTF-8 for ASCII;
 * the default max_batch_bytes leaves 2x headroom under the broker's limit.
 */
export function recordBytes(r: OutRecord): number {
  return r.value.length + (r.key?.length ?? 0) + 96;
}

/** The topics a config can produce to: one, or one per event type. */
export function kafkaTopics(opts: { topic: string }, eventTypes: Iterable<string>): string[] {
  if (!opts.topic.includes("{event_type}")) return [opts.topic];
  return [...new Set([...eventTypes].map((t) => topicFor(opts.topic, t)))];
}

/** The topic of one event type: the template with `{event_type}` filled in. */
export function topicFor(template: string, eventType: string): string {
  return template.replaceAll("{event_type}", eventType);
}

/** Replication of created topics: as asked, else 3 capped by the cluster's size. */
export function topicReplication(
  opts: { replication_factor?: number; min_insync_replicas?: number },
  brokers: number,
): { replicas: number; minInsync: number } {
  const replicas = opts.replication_factor ?? Math.max(1, Math.min(3, brokers));
  return { replicas, minInsync: opts.min_insync_replicas ?? Math.max(1, replicas - 1) };
}

/** What the metadata tells of the topics: partition counts and which ones have replicas. */
export class TopicLayout {
  /** Partitions of each topic, from the last metadata. */
  #partitionCounts = new Map<string, number>();
  /** Topics whose every partition has more than one replica. */
  #replicated = new Set<string>();
  /** Round-robin position for events without a key, per topic. */
  #roundRobin = new Map<string, number>();

  /** Records a topic's metadata. */
  learn(topic: string, partitions: number, replicated: boolean): void {
    this.#partitionCounts.set(topic, partitions);
    if (replicated) this.#replicated.add(topic);
    else this.#replicated.delete(topic);
  }

  /** Whether every partition of `topic` has more than one replica. */
  isReplicated(topic: string): boolean {
    return this.#replicated.has(topic);
  }

  /** The partition of an event of `topic` with `key`. */
  partitionFor(topic: string, key: string | undefined): number {
    const count = this.#partitionCounts.get(topic) ?? 1;
    if (key === undefined) {
      const next = (this.#roundRobin.get(topic) ?? 0) + 1;
      this.#roundRobin.set(topic, next);
      return next % count;
    }
    return partitionOfKey(key, count);
  }

  /**
   * Where `event` goes: its topic from the `template`, its key from the
   * `keyField` of the event, its partition from both.
   */
  target(event: Event, template: string, keyField: string): Target {
    const eventType = String(event.event_type);
    const topic = topicFor(template, eventType);
    const rawKey = event[keyField];
    const key = rawKey === null || rawKey === undefined ? undefined : String(rawKey);
    return { topic, partition: this.partitionFor(topic, key), key, eventType };
  }
}

/** The topic partition and key of one event. */
export interface Target {
  topic: string;
  partition: number;
  key: string | undefined;
  eventType: string;
}

/** The record of `event` for `target`. */
export function recordOf(event: Event, target: Target): OutRecord {
  return {
    topic: target.topic,
    partition: target.partition,
    key: target.key,
    value: JSON.stringify(event),
    headers: { event_type: target.eventType },
    timestamp: BigInt(Date.parse(String(event.received_at)) || Date.now()),
  };
}

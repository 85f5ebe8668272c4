/**
 * The Kafka sink's view of the cluster: connecting (topics created, every
 * topic's partitions learned, idempotent producers initialised), probing in
 * the background while no broker answers, and why events are refused now.
 *
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Admin, Producer } from "@platformatic/kafka";
import type { Logger } from "pino";
import type { SinkMetrics } from "../contract.ts";
import { current, type Lane, type Lanes } from "./lanes.ts";
import { type TopicLayout, topicReplication } from "./routing.ts";

/** An error's message, with the causes the client nests inside it. */
export function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const nested = (error as { errors?: unknown[] }).errors;
  const last = Array.isArray(nested) && nested.length > 0 ? nested[nested.length - 1] : undefined;
  return last instanceof Error && last !== error
    ? `${error.message}: ${describe(last)}`
    : error.message;
}

/** How topics Herald creates are laid out. */
export interface TopicSettings {
  partitions: number;
  replication_factor?: number;
  min_insync_replicas?: number;
}

/** What a {@linkcode Connection} connects with. */
export interface ConnectionOptions {
  brokers: readonly string[];
  idempotent: boolean;
  /** Request timeout: a partition without replicas unanswered this long is refused. */
  timeoutMs: number;
  /** How long a partition with replicas may wait for a failover before it is refused. */
  ackTimeoutMs: number;
  /** The producer a hung partition with replicas would move to, or null when none is left. */
  nextProducer: (lane: Lane) => number | null;
  topics: TopicSettings;
  /** The producer pool; the first one reads the metadata. */
  producers: readonly Producer<string, string, string, string>[];
  /** A new admin client, closed after use. */
  openAdmin: () => Admin;
  layout: TopicLayout;
  metrics: SinkMetrics;
  logger: Logger;
}

/** The connection state of the sink: up, down (probing every second) or closed. */
export class Connection {
  #o: ConnectionOptions;
  #probe: ReturnType<typeof setTimeout> | undefined;
  state: "down" | "up" | "closed" = "down";
  lastError = "not connected yet";
  /** The topics to create and learn, grown by config reloads. */
  topics: string[];

  constructor(options: ConnectionOptions, topics: string[]) {
    this.#o = options;
    this.topics = topics;
  }

  /** One connection attempt; a failure marks the sink down and probes again a second later. */
  async connect(): Promise<void> {
    this.#probe = undefined;
    if (this.state !== "down") return;
    try {
      await this.ensureTopics();
      if (this.#o.idempotent) {
        await Promise.all(this.#o.producers.map((p) => p.initIdempotentProducer({})));
      }
      if (this.state === "down") {
        this.state = "up";
        this.#o.logger.info({ brokers: this.#o.brokers, topics: this.topics }, "kafka connected");
      }
    } catch (error) {
      this.failed(error);
    }
  }

  /** A connection attempt failed. */
  failed(error: unknown): void {
    this.#o.metrics.error("kafka", "connect");
    this.markDown(error);
  }

  /** The sink refuses until a probe reaches the cluster again. */
  markDown(error: unknown): void {
    this.lastError = describe(error);
    if (this.state === "up") {
      this.#o.logger.warn(
        { err: this.lastError },
        "kafka unavailable; answering 503 until it returns",
      );
    }
    if (this.state !== "closed") this.state = "down";
    this.#probe ??= setTimeout(() => this.connect(), 1000);
  }

  /**
   * Creates the missing topics, then learns every topic's partition count.
   * Brokers learn of a new topic a moment after it is created, so after
   * creating one this asks again until the metadata names it (at most
   * `timeoutMs`) instead of failing, which would refuse every topic's events
   * until the next probe.
   */
  async ensureTopics(): Promise<void> {
    const admin = this.#o.openAdmin();
    let created = false;
    try {
      const existing = new Set(await admin.listTopics());
      const missing = this.topics.filter((t) => !existing.has(t));
      if (missing.length > 0) await this.#createTopics(admin, missing);
      created = missing.length > 0;
    } finally {
      await admin.close();
    }
    const deadline = Date.now() + this.#o.timeoutMs;
    for (;;) {
      const known = await this.#o.producers[0]!.metadata({
        topics: this.topics,
        forceUpdate: true,
        retries: 2,
      }).catch((error) => {
        if (!created || Date.now() > deadline) throw error;
        return null;
      });
      const unknown = this.topics.filter((t) => !known?.topics.get(t)?.partitionsCount);
      if (known && unknown.length === 0) {
        for (const topic of this.topics) {
          const info = known.topics.get(topic)!;
          this.#o.layout.learn(
            topic,
            info.partitionsCount,
            info.partitions.every((p) => p.replicas.length > 1),
          );
        }
        return;
      }
      if (!created || Date.now() > deadline) {
        throw new Error(`Topic "${unknown[0]}" has no partitions in the metadata`);
      }
      await sleep(100);
    }
  }

  async #createTopics(admin: Admin, missing: string[]): Promise<void> {
    const settings = this.#o.topics;
    // An empty topic list asks for no topics, but the brokers come along.
    const { brokers } = await admin.metadata({ topics: [], forceUpdate: true });
    const { replicas, minInsync } = topicReplication(settings, brokers.size);
    await admin.createTopics({
      topics: missing,
      partitions: settings.partitions,
      replicas,
      configs: [{ name: "min.insync.replicas", value: String(minInsync) }],
    }).catch((error) => {
      // Another gateway created it first.
      if (!/TOPIC_ALREADY_EXISTS|already exists/i.test(describe(error))) throw error;
    });
    this.#o.logger.info(
      {
        topics: missing,
        partitions: settings.partitions,
        replicas,
        min_insync_replicas: minInsync,
      },
      "kafka topics created",
    );
  }

  /** Why events for `lane` are refused now, or null. */
  refusal(lane: Lane | undefined): string | null {
    if (this.state !== "up") return `Kafka is unavailable: ${this.lastError}`;
    if (lane && current(lane) > 0) {
      const stalled = Date.now() - current(lane);
      const replicated = this.#o.layout.isReplicated(lane.topic);
      // A partition with replicas may still fail over in time until the ack timeout.
      const patienceMs = replicated ? this.#o.ackTimeoutMs : this.#o.timeoutMs;
      // Unless another producer can still take the lane (see `Sender` in
      // `producer.ts`): refused events leave nothing to move, so the lane
      // would wait for its hung request however long that takes.
      if (stalled > patienceMs && !(replicated && this.#o.nextProducer(lane) !== null)) {
        return `Kafka has not acked partition ${lane.topic}/${lane.partition} for ${stalled} ms`;
      }
    }
    return null;
  }

  /** The sink-wide refusal for /readyz: down, or the oldest stalled partition. */
  unavailable(lanes: Lanes): string | null {
    return this.refusal(lanes.mostStalled());
  }

  /** Stops probing. */
  close(): void {
    this.state = "closed";
    clearTimeout(this.#probe);
  }
}

/**
 * The producers of the Kafka sink: Produce requests of the lanes' batches,
 * spread over a pool of producers (each with its own connections and producer
 * id, so each adds a request in flight), and the move of a hung partition to
 * the next producer of the pool.
 *
 * @module
 */
import type { Producer } from "@platformatic/kafka";
import type { Logger } from "pino";
import { type SinkMetrics, SinkUnavailableError } from "../contract.ts";
import { describe } from "./health.ts";
import { current, type Lane, type Lanes, settle } from "./lanes.ts";

/** A producer of string keys, values and headers. */
export type StringProducer = Producer<string, string, string, string>;

/** The pause between two attempts of a Produce request. */
export const RETRY_DELAY_MS = 100;

/** `list` rotated left by `by`. */
export function rotate<T>(list: readonly T[], by: number): T[] {
  const k = by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

/** Counts of the Produce requests sent. */
export interface ProduceCounts {
  batches: number;
  produceRequests: number;
  events: number;
}

/** What a {@linkcode Sender} sends with and reports to. */
export interface SenderOptions {
  producers: readonly StringProducer[];
  /** The bootstrap brokers; producer `i` starts its list at `rotate(brokers, i)[0]`. */
  brokers: readonly string[];
  lanes: Lanes;
  /** The `acks` of every send: the client ignores the constructor's when not idempotent. */
  acks: number;
  /** Request timeout: a partition with replicas hung this long moves to the next producer. */
  timeoutMs: number;
  /** Whether every partition of `topic` has more than one replica. */
  isReplicated: (topic: string) => boolean;
  /** Called when a request failed for the client's whole retry budget. */
  onFailure: (error: unknown, failure: SinkUnavailableError) => void;
  metrics: SinkMetrics;
  logger: Logger;
}

/** Sends the lanes' batches, at most one request in flight per producer and lane. */
export class Sender {
  #o: SenderOptions;
  #unsticking: ReturnType<typeof setInterval> | undefined;
  /** Each producer's first bootstrap broker, the one it asks for metadata. */
  #firstBroker: string[];
  /** Produce requests in flight. */
  inFlight = 0;
  readonly counts: ProduceCounts = { batches: 0, produceRequests: 0, events: 0 };

  constructor(options: SenderOptions) {
    this.#o = options;
    this.#firstBroker = options.producers.map((_, i) => rotate(options.brokers, i)[0]!);
  }

  /** Sends `lane`'s next batch with the lane's producer. */
  send(lane: Lane): void {
    const { lanes, metrics, logger } = this.#o;
    const { chunks, events } = lanes.take(lane);
    const messages = chunks.length === 1 ? chunks[0]!.records : chunks.flatMap((c) => c.records);
    const request = { sentAt: Date.now(), via: lane.producer };
    lane.sending.push(request);
    this.#unsticking ??= setInterval(
      () => this.#unstick(),
      Math.max(20, Math.min(200, this.#o.timeoutMs / 10)),
    );
    this.inFlight++;
    this.counts.produceRequests++;
    const started = performance.now();
    this.#o.producers[request.via]!.send({ messages, acks: this.#o.acks }).then(
      () => {
        this.counts.batches++;
        this.counts.events += events;
        metrics.flushed("kafka", events, (performance.now() - started) / 1000);
        for (const chunk of chunks) {
          if (--chunk.ticket.lanes === 0) settle(chunk.ticket);
        }
      },
      (error) => {
        const failure = new SinkUnavailableError(`Kafka did not ack: ${describe(error)}`, {
          cause: error,
        });
        metrics.error("kafka", "produce");
        logger.warn(
          { err: failure.message, topic: lane.topic, partition: lane.partition },
          "produce failed",
        );
        for (const chunk of chunks) settle(chunk.ticket, failure);
        // Every attempt failed for the whole retry budget: the sink refuses
        // until a probe reaches the cluster again.
        this.#o.onFailure(error, failure);
      },
    ).finally(() => {
      lane.sending.splice(lane.sending.indexOf(request), 1);
      this.inFlight--;
      if (this.inFlight === 0) this.close();
      lanes.requestEnded(lane);
    });
  }

  /** Stops watching for hung requests. */
  close(): void {
    clearInterval(this.#unsticking);
    this.#unsticking = undefined;
  }

  /**
   * A partition with replicas whose current request has hung past
   * `timeout_ms` sends what waited behind it with another producer of the
   * pool (another producer id, so its sequence numbers are its own): the hung
   * request's producer may be refreshing metadata from a hung broker while
   * another leader has taken over. Order between the two requests is lost;
   * no event is lost or written twice. A partition without replicas has no
   * other leader to find: it refuses instead (see `refusal` in `health.ts`).
   */
  #unstick(): void {
    const { producers, lanes, timeoutMs, isReplicated } = this.#o;
    const now = Date.now();
    for (const lane of lanes.values()) {
      if (
        lane.chunks.length > 0 && current(lane) > 0 && isReplicated(lane.topic) &&
        now - current(lane) > timeoutMs
      ) {
        const next = this.nextProducer(lane);
        if (next === null) continue;
        lane.producer = next;
        // Its cached metadata may still name the hung leader for a while:
        // the first attempt asks its first bootstrap broker, a live one.
        producers[next]!.clearMetadata();
        lanes.sendNow(lane);
      }
    }
  }

  /**
   * The producer a hung `lane` moves to: the next one of the pool with no
   * request of this lane in flight, preferring one whose first bootstrap
   * broker is neither the hung producer's nor the partition's leader in its
   * metadata. The client refreshes metadata during Produce retries from its
   * first bootstrap broker only, and a stopped (not dead) broker still
   * accepts connections, so a producer that starts at the hung broker cannot
   * learn the new leader until that broker answers again. Null when none is
   * left.
   */
  nextProducer(lane: Lane): number | null {
    const { producers } = this.#o;
    const metadata = producers[lane.producer]!.currentMetadata;
    const leader = metadata?.topics.get(lane.topic)?.partitions[lane.partition]?.leader;
    const broker = leader === undefined ? undefined : metadata?.brokers.get(leader);
    const suspects = [this.#firstBroker[lane.producer], broker && `${broker.host}:${broker.port}`];
    let fallback: number | null = null;
    for (let step = 1; step < producers.length; step++) {
      const i = (lane.producer + step) % producers.length;
      if (lane.sending.some((r) => r.via === i)) continue;
      if (!suspects.includes(this.#firstBroker[i])) return i;
      fallback ??= i;
    }
    return fallback;
  }
}

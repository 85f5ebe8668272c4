/**
 * The lanes of the Kafka sink: one queue per topic partition. Each lane has
 * at most one Produce request in flight (see `producer.ts`), which keeps its
 * sequence numbers in order; while it is in flight, the events arriving for
 * the lane form its next batch (group commit across HTTP requests), bounded
 * by `max_batch_events` and `max_batch_bytes`. `linger_ms` can hold a batch
 * back for more.
 *
 * @module
 */
import type { SinkUnavailableError } from "../contract.ts";
import { type OutRecord, recordBytes } from "./routing.ts";

/** One write, waiting for every lane it touched. */
export interface Ticket {
  lanes: number;
  settled: boolean;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** One write's records for one lane. */
export interface Chunk {
  ticket: Ticket;
  records: OutRecord[];
  bytes: number;
}

/** The queue of one topic partition. */
export interface Lane {
  topic: string;
  partition: number;
  chunks: Chunk[];
  events: number;
  bytes: number;
  /** The requests in flight, oldest first. */
  sending: InFlight[];
  /** The producer of the pool this partition sends with now. */
  producer: number;
}

/** A Produce request of a lane in flight. */
export interface InFlight {
  /** When it was sent. */
  sentAt: number;
  /** The producer of the pool it was sent with. */
  via: number;
}

/** One Produce request's worth of a lane: its chunks and their totals. */
export interface Batch {
  chunks: Chunk[];
  events: number;
  bytes: number;
}

/** Bounds of the batches of a lane. */
export interface BatchLimits {
  /** Events per batch. */
  maxEvents: number;
  /** Record bytes per batch. */
  maxBytes: number;
  /** How long a batch that is not full waits for more; 0 sends it when the lane is free. */
  lingerMs: number;
}

/**
 * When the request of `lane` in flight with its current producer was sent; 0
 * when none is. Requests it left hung on other producers do not hold it up.
 */
export function current(lane: Lane): number {
  return lane.sending.findLast((r) => r.via === lane.producer)?.sentAt ?? 0;
}

/** Settles `ticket` once: resolved, or rejected with `error`. */
export function settle(ticket: Ticket, error?: unknown): void {
  if (ticket.settled) return;
  ticket.settled = true;
  if (error === undefined) ticket.resolve();
  else ticket.reject(error);
}

/** The lanes of every topic partition, and when their batches are sent. */
export class Lanes {
  #lanes = new Map<string, Lane>();
  /** Lanes with events and no request in flight, in the order they became ready. */
  #ready = new Set<Lane>();
  #limits: BatchLimits;
  #producers: number;
  #send: (lane: Lane) => void;
  #linger: ReturnType<typeof setTimeout> | undefined;
  #flushQueued = false;
  /** Events in lanes, not yet in a Produce request. */
  queued = 0;

  /**
   * `producers` is the size of the pool new lanes are spread over; `send`
   * sends a lane's next batch (taken with {@linkcode take}).
   */
  constructor(limits: BatchLimits, producers: number, send: (lane: Lane) => void) {
    this.#limits = limits;
    this.#producers = producers;
    this.#send = send;
  }

  /** Every lane. */
  values(): IterableIterator<Lane> {
    return this.#lanes.values();
  }

  /** The lane of a topic partition, created on first use. */
  laneOf(topic: string, partition: number): Lane {
    const id = `${topic}\u0000${partition}`;
    let lane = this.#lanes.get(id);
    if (!lane) {
      lane = {
        topic,
        partition,
        chunks: [],
        events: 0,
        bytes: 0,
        sending: [],
        producer: this.#lanes.size % this.#producers,
      };
      this.#lanes.set(id, lane);
    }
    return lane;
  }

  /**
   * The lane whose request in flight with its current producer is the oldest,
   * if any lane has one.
   */
  mostStalled(): Lane | undefined {
    let worst: Lane | undefined;
    for (const lane of this.#lanes.values()) {
      if (current(lane) > 0 && (!worst || current(lane) < current(worst))) worst = lane;
    }
    return worst;
  }

  /** Queues one write's records, lane by lane, and schedules their sending. */
  enqueue(ticket: Ticket, byLane: Map<Lane, OutRecord[]>, events: number): void {
    let full = false;
    for (const [lane, records] of byLane) {
      let bytes = 0;
      for (const r of records) bytes += recordBytes(r);
      lane.chunks.push({ ticket, records, bytes });
      lane.events += records.length;
      lane.bytes += bytes;
      if (current(lane) === 0) this.#ready.add(lane);
      if (lane.events >= this.#limits.maxEvents || lane.bytes >= this.#limits.maxBytes) {
        full = true;
      }
    }
    this.queued += events;
    this.#scheduleFlush(full);
  }

  /** Takes the next batch of `lane`: its oldest chunks, within the limits (at least one). */
  take(lane: Lane): Batch {
    const chunks: Chunk[] = [];
    let events = 0;
    let bytes = 0;
    while (lane.chunks.length > 0) {
      const next = lane.chunks[0]!;
      if (
        chunks.length > 0 &&
        (events + next.records.length > this.#limits.maxEvents ||
          bytes + next.bytes > this.#limits.maxBytes)
      ) break;
      chunks.push(lane.chunks.shift()!);
      events += next.records.length;
      bytes += next.bytes;
    }
    lane.events -= events;
    lane.bytes -= bytes;
    this.queued -= events;
    return { chunks, events, bytes };
  }

  /** Sends the batch of every ready lane now. */
  flush(): void {
    clearTimeout(this.#linger);
    this.#linger = undefined;
    for (const lane of this.#ready) {
      this.#ready.delete(lane);
      this.#send(lane);
    }
  }

  /** Sends `lane`'s next batch now, ready or not. */
  sendNow(lane: Lane): void {
    this.#ready.delete(lane);
    this.#send(lane);
  }

  /** After a request of `lane` ended: the lane is ready again if events wait for it. */
  requestEnded(lane: Lane): void {
    if (lane.chunks.length > 0 && current(lane) === 0) this.#ready.add(lane);
    if (this.#ready.size > 0) this.flush();
  }

  /** Rejects every queued write with `error` and empties the lanes. */
  failAll(error: SinkUnavailableError): void {
    for (const lane of this.#lanes.values()) {
      for (const chunk of lane.chunks) settle(chunk.ticket, error);
      this.queued -= lane.events;
      lane.chunks = [];
      lane.events = 0;
      lane.bytes = 0;
    }
    this.#ready.clear();
  }

  /** Stops the linger timer. */
  close(): void {
    clearTimeout(this.#linger);
  }

  #scheduleFlush(full: boolean): void {
    if (full) this.flush();
    else if (this.#limits.lingerMs > 0) {
      this.#linger ??= setTimeout(() => this.flush(), this.#limits.lingerMs);
    } else if (!this.#flushQueued) {
      // Group commit: send as soon as the lane is free; while its request is
      // in flight, events pile up into its next batch.
      this.#flushQueued = true;
      queueMicrotask(() => {
        this.#flushQueued = false;
        this.flush();
      });
    }
  }
}

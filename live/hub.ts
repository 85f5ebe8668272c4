/**
 * The live hub: a ring buffer of the last accepted events and rejected
 * requests, sampled to a bounded rate, and the viewers it hands them to.
 * Publishing stores a reference and counts; nothing is serialised until a
 * viewer reads (events are not changed after they are written), so a hub
 * nobody watches costs a few stores per event. With several worker
 * processes, a viewer's hub also relays what the other workers' hubs have
 * (`relay`), so a page sees the whole server.
 *
 * @module
 */
import type { LiveConfig } from "../config/mod.ts";
import type { Event } from "../sinks/contract.ts";
import { type SampleCount, Sampler } from "./_sampler.ts";

/** A request Herald refused (or partly refused: a 207 batch), as viewers see it. */
export class Rejection {
  readonly kind = "rejected";
  constructor(
    readonly time: string,
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly request_id: string,
    /** The JSON error body the client got (error, message, fields, or a batch's results). */
    readonly body: unknown,
  ) {}
}

/** An item another worker's hub sent, already as the JSON a viewer gets. */
export class Relayed {
  constructor(readonly worker: number, readonly seq: number, readonly json: string) {}
}

/** One buffered item: an accepted event or a rejection, or one relayed from another worker. */
export type LiveItem = Event | Rejection | Relayed;

/**
 * Starts relaying the other workers' items into `viewer` (each after the
 * sequence number `after` gives for it), until the viewer disconnects.
 */
export type Relay = (viewer: Viewer, after: ReadonlyMap<number, number>) => void;

/** An item with its sequence number (the SSE `id`, for `Last-Event-ID`). */
export interface Entry {
  seq: number;
  item: LiveItem;
}

/** The hub's per-second counts and limits, sent to viewers once a second. */
export interface LiveStatus {
  accepted: SampleCount;
  rejected: SampleCount;
  /** Items this viewer lost because it read too slowly. */
  dropped: number;
  buffer_events: number;
  max_events_per_s: number;
  max_rejections_per_s: number;
  viewers: number;
}

/** One connected viewer: a bounded queue of entries not yet sent. */
export class Viewer {
  readonly #capacity: number;
  #queue: Entry[] = [];
  #head = 0;
  /** Entries dropped, oldest first, because the queue was full. */
  dropped = 0;
  closed = false;
  /** Set once a second: the stream sends the status with its next write. */
  statusDue = true;
  #wake: (() => void) | null = null;
  /** Aborted when the viewer disconnects: ends what relays to it. */
  readonly #abort = new AbortController();
  /** With relaying: the last sequence number sent of each worker, for `Last-Event-ID`. */
  readonly lastSent = new Map<number, number>();
  /** With relaying: the latest status of each other worker that is relaying now. */
  readonly relayed = new Map<number, LiveStatus>();

  constructor(capacity: number, readonly relaying = false) {
    this.#capacity = capacity;
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Queues `entry`; when full, drops the oldest and counts it. */
  push(entry: Entry): void {
    if (this.#queue.length - this.#head >= this.#capacity) {
      this.#head++;
      this.dropped++;
      if (this.#head >= this.#capacity) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
    }
    this.#queue.push(entry);
    this.notify();
  }

  /** Takes up to `max` queued entries, oldest first. */
  take(max: number): Entry[] {
    const out = this.#queue.slice(this.#head, this.#head + max);
    this.#head += out.length;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    }
    return out;
  }

  get pending(): number {
    return this.#queue.length - this.#head;
  }

  /** Marks the viewer closed and wakes its stream, which ends. */
  close(): void {
    this.closed = true;
    this.#abort.abort();
    this.notify();
  }

  /** Resolves at the next push, status tick or close. */
  wait(): Promise<void> {
    return new Promise((resolve) => (this.#wake = resolve));
  }

  notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}

/** Keeps the recent events and rejections and fans them out to viewers. */
export class LiveHub {
  #options: LiveConfig;
  #ring: (LiveItem | undefined)[];
  #seq = 0;
  #accepted: Sampler;
  #rejected: Sampler;
  readonly #viewers = new Set<Viewer>();
  readonly #internal = new Set<Viewer>();
  #tick: ReturnType<typeof setInterval> | undefined;
  /** Which worker process this is, and how many there are (shown on the page). */
  readonly worker: { index: number; count: number } | null;
  readonly #now: () => number;
  readonly #relay: Relay | undefined;

  constructor(
    options: LiveConfig,
    extra: { worker?: { index: number; count: number }; now?: () => number; relay?: Relay } = {},
  ) {
    this.#options = options;
    this.#ring = new Array(options.buffer_events);
    this.#accepted = new Sampler(options.max_events_per_s);
    this.#rejected = new Sampler(options.max_rejections_per_s);
    this.worker = extra.worker ?? null;
    this.#now = extra.now ?? Date.now;
    this.#relay = extra.relay;
  }

  get options(): LiveConfig {
    return this.#options;
  }

  /** Adopts a reloaded `live:` section; a new buffer size starts an empty buffer. */
  configure(options: LiveConfig): void {
    if (options.buffer_events !== this.#options.buffer_events) {
      const kept = this.since(0).slice(-options.buffer_events);
      this.#ring = new Array(options.buffer_events);
      for (const { seq, item } of kept) this.#ring[seq % options.buffer_events] = item;
    }
    this.#accepted.max = options.max_events_per_s;
    this.#rejected.max = options.max_rejections_per_s;
    this.#options = options;
  }

  /** Accepted events, once every sink has them. */
  publish(events: readonly Event[]): void {
    const now = this.#now();
    for (const event of events) {
      if (this.#accepted.keep(now)) this.#store(event);
    }
  }

  /**
   * Whether a rejection now would be kept (counts it either way): the caller
   * reads the error body only then.
   */
  keepRejection(): boolean {
    return this.#rejected.keep(this.#now());
  }

  /** A rejection that {@linkcode keepRejection} kept. */
  reject(rejection: Rejection): void {
    this.#store(rejection);
  }

  #store(item: LiveItem): void {
    const seq = ++this.#seq;
    this.#ring[seq % this.#ring.length] = item;
    if (this.#viewers.size === 0) return;
    const entry = { seq, item };
    for (const viewer of this.#viewers) viewer.push(entry);
  }

  /** The buffered entries after sequence number `after`, oldest first. */
  since(after: number): Entry[] {
    const size = this.#ring.length;
    const from = Math.max(after + 1, this.#seq - size + 1, 1);
    const out: Entry[] = [];
    for (let seq = from; seq <= this.#seq; seq++) {
      const item = this.#ring[seq % size];
      if (item !== undefined) out.push({ seq, item });
    }
    return out;
  }

  /** The last sequence number given out. */
  get seq(): number {
    return this.#seq;
  }

  /** Viewers connected here, not counting other workers relaying. */
  get viewers(): number {
    return this.#viewers.size - this.#internal.size;
  }

  /**
   * Connects a viewer, queued with the buffer after what `lastSeen` says it
   * saw of this worker (all of it when absent, or when the server restarted
   * since), and relayed the other workers' items after what it saw of
   * theirs; null when `max_viewers` are connected. `internal` is another
   * worker relaying: not counted, not relayed further. Once a second its
   * status falls due.
   */
  connect(
    lastSeen: ReadonlyMap<number, number>,
    options: { internal?: boolean } = {},
  ): Viewer | null {
    const internal = options.internal ?? false;
    if (!internal && this.viewers >= this.#options.max_viewers) return null;
    const relay = internal ? undefined : this.#relay;
    const viewer = new Viewer(this.#options.buffer_events, relay !== undefined);
    const seen = lastSeen.get(this.worker?.index ?? 0);
    const after = seen === undefined || seen > this.#seq ? 0 : seen;
    for (const entry of this.since(after)) viewer.push(entry);
    if (internal) this.#internal.add(viewer);
    this.#viewers.add(viewer);
    relay?.(viewer, lastSeen);
    this.#tick ??= setInterval(() => {
      for (const v of this.#viewers) {
        v.statusDue = true;
        v.notify();
      }
    }, 1000);
    return viewer;
  }

  /** Disconnects a viewer; the last one stops the status timer. */
  disconnect(viewer: Viewer): void {
    viewer.close();
    this.#viewers.delete(viewer);
    this.#internal.delete(viewer);
    if (this.#viewers.size === 0) {
      clearInterval(this.#tick);
      this.#tick = undefined;
    }
  }

  /** The status as `viewer` gets it now. */
  status(viewer: Viewer): LiveStatus {
    const now = this.#now();
    return {
      accepted: this.#accepted.lastSecond(now),
      rejected: this.#rejected.lastSecond(now),
      dropped: viewer.dropped,
      buffer_events: this.#options.buffer_events,
      max_events_per_s: this.#options.max_events_per_s,
      max_rejections_per_s: this.#options.max_rejections_per_s,
      viewers: this.viewers,
    };
  }

  /** Disconnects every viewer (their streams end), so a drain does not wait for them. */
  close(): void {
    for (const viewer of [...this.#viewers]) this.disconnect(viewer);
  }
}

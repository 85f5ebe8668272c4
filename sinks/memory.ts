/**
 * An in-memory sink for unit tests: it keeps what it is given and can be told
 * to be slow or to fail. Not in the registry; no user can select it.
 *
 * @module
 */
import {
  type Event,
  type Health,
  type Sink,
  type SinkLoad,
  SinkUnavailableError,
} from "./contract.ts";

/** A sink that stores events in an array. */
export class MemorySink implements Sink {
  readonly name: string;
  /** Every event whose write succeeded, in order. */
  readonly events: Event[] = [];
  /** Delay before each write settles. */
  delayMs = 0;
  /** When set, writes fail with this message. */
  failWith: string | null = null;
  closed = false;
  /** What {@linkcode load} reports: set `queued` to simulate a backlog. */
  queue: SinkLoad = { queued: 0, limit: 100, unit: "events" };

  constructor(name = "memory") {
    this.name = name;
  }

  async write(events: readonly Event[]): Promise<void> {
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.failWith !== null) throw new SinkUnavailableError(this.failWith);
    this.events.push(...events);
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  load(): SinkLoad {
    return { ...this.queue };
  }

  health(): Promise<Health> {
    return Promise.resolve(this.failWith ? { ok: false, detail: this.failWith } : { ok: true });
  }
}

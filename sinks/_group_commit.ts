import { SinkUnavailableError } from "./contract.ts";

/**
 * Group commit: writers append items, one flush at a time carries every item
 * appended since the previous flush, and each writer's promise settles with the
 * flush that carried its item. Pending items are bounded by size: past
 * `maxPendingBytes` a write is refused at once instead of growing memory.
 */
export class GroupCommit<T> {
  #flush: (items: T[]) => Promise<void>;
  #maxPendingBytes: number;
  #pending: T[] = [];
  #pendingBytes = 0;
  #waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  #running: Promise<void> | null = null;

  constructor(flush: (items: T[]) => Promise<void>, options: { maxPendingBytes: number }) {
    this.#flush = flush;
    this.#maxPendingBytes = options.maxPendingBytes;
  }

  /** Appends `item` of `bytes` size; resolves when a flush has carried it. */
  write(item: T, bytes: number): Promise<void> {
    if (this.#pendingBytes > 0 && this.#pendingBytes + bytes > this.#maxPendingBytes) {
      return Promise.reject(
        new SinkUnavailableError(`Write queue is full: ${this.#pendingBytes} bytes pending`),
      );
    }
    this.#pending.push(item);
    this.#pendingBytes += bytes;
    const done = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    this.#running ??= this.#run();
    return done;
  }

  /** Bytes appended and not yet carried by a flush. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Resolves once everything written so far has been flushed (or has failed). */
  async drain(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #run(): Promise<void> {
    // Yield once so writes made in the same tick share the first flush.
    await Promise.resolve();
    while (this.#pending.length > 0) {
      const items = this.#pending;
      const waiters = this.#waiters;
      this.#pending = [];
      this.#waiters = [];
      this.#pendingBytes = 0;
      try {
        await this.#flush(items);
        for (const w of waiters) w.resolve();
      } catch (error) {
        for (const w of waiters) w.reject(error);
      }
    }
    this.#running = null;
  }
}

import { SinkUnavailableError } from "./errors.ts";

/**
 * Group commit: writers append text, one flush at a time carries everything
 * appended since the previous flush, and each writer's promise settles with the
 * flush that carried its text. Pending text is bounded: past `maxPendingBytes`
 * a write is refused at once instead of growing memory.
 */
export class GroupCommit {
  #flush: (text: string) => Promise<void>;
  #maxPendingBytes: number;
  #pending: string[] = [];
  #pendingBytes = 0;
  #waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  #running: Promise<void> | null = null;

  constructor(flush: (text: string) => Promise<void>, options: { maxPendingBytes: number }) {
    this.#flush = flush;
    this.#maxPendingBytes = options.maxPendingBytes;
  }

  /** Bytes (UTF-16 code units) waiting for the next flush. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Appends `text`; resolves when a flush has carried it. */
  write(text: string): Promise<void> {
    if (this.#pendingBytes + text.length > this.#maxPendingBytes && this.#pendingBytes > 0) {
      return Promise.reject(
        new SinkUnavailableError(`Write queue is full: ${this.#pendingBytes} bytes pending`),
      );
    }
    this.#pending.push(text);
    this.#pendingBytes += text.length;
    const done = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    this.#running ??= this.#run();
    return done;
  }

  /** Resolves once everything written so far has been flushed (or has failed). */
  async drain(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #run(): Promise<void> {
    // Yield once so writes made in the same tick share the first flush.
    await Promise.resolve();
    while (this.#pending.length > 0) {
      const text = this.#pending.join("");
      const waiters = this.#waiters;
      this.#pending = [];
      this.#waiters = [];
      this.#pendingBytes = 0;
      try {
        await this.#flush(text);
        for (const w of waiters) w.resolve();
      } catch (error) {
        for (const w of waiters) w.reject(error);
      }
    }
    this.#running = null;
  }
}

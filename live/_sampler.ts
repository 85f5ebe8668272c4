/**
 * At most `max` items a second, spread over the second: each window keeps
 * every k-th item, k from the rate of the window before, up to `max`.
 *
 * @module
 */

/** Items seen and kept in one second. */
export interface SampleCount {
  seen: number;
  kept: number;
}

const WINDOW_MS = 1000;

/** Decides which items to keep; counts the rest. */
export class Sampler {
  max: number;
  #end = 0;
  #stride = 1;
  #seen = 0;
  #kept = 0;
  #last: SampleCount = { seen: 0, kept: 0 };

  constructor(max: number) {
    this.max = max;
  }

  /** Whether to keep the item seen at `now` (ms). */
  keep(now: number): boolean {
    if (now >= this.#end) this.#roll(now);
    const n = ++this.#seen;
    if (this.#kept >= this.max || n % this.#stride !== 0) return false;
    this.#kept++;
    return true;
  }

  /** The counts of the last whole second before `now`. */
  lastSecond(now: number): SampleCount {
    if (now >= this.#end) this.#roll(now);
    return this.#last;
  }

  #roll(now: number): void {
    // A window that ended more than a window ago saw nothing since.
    const idle = now >= this.#end + WINDOW_MS;
    this.#last = idle ? { seen: 0, kept: 0 } : { seen: this.#seen, kept: this.#kept };
    this.#stride = Math.max(1, Math.ceil(this.#last.seen / this.max));
    this.#seen = 0;
    this.#kept = 0;
    this.#end = now + WINDOW_MS;
  }
}

/**
 * A bounded memory of recent ids: each id is held for `windowMs` after it was
 * added, and at most `maxIds` are held (the oldest go first). Used by the
 * gateway for the client event ids it acknowledged, and by the lander for
 * the ids it landed.
 *
 * @module
 */

/** The bounds of a {@linkcode RecentIds}. */
export interface IdWindow {
  /** How long an id is held after it was added. */
  windowMs: number;
  /** How many ids are held at most; 0 holds none. */
  maxIds: number;
}

/** Counters of a {@linkcode RecentIds}, for metrics and stats. */
export interface RecentIdsStats {
  /** Ids held now. */
  held: number;
  /** Ids dropped for the count bound before their time was up: `maxIds` is too small. */
  earlyEvictions: number;
}

/**
 * Ids with the time they were added and a value each, oldest first. A Map
 * keeps insertion order, so the oldest id is always its first key and both
 * bounds are enforced from the front, at no cost per lookup.
 */
export class RecentIds<V = true> {
  #ids = new Map<string, { at: number; value: V }>();
  #window: IdWindow;
  earlyEvictions = 0;

  constructor(window: IdWindow) {
    this.#window = { ...window };
  }

  /** The bounds in use. */
  get window(): IdWindow {
    return { ...this.#window };
  }

  /** Takes new bounds (a config reload); ids over the new count bound go at the next add. */
  resize(window: IdWindow): void {
    this.#window = { ...window };
  }

  /** Ids held now, expired ones included until the next add or sweep. */
  get size(): number {
    return this.#ids.size;
  }

  /** The value of `id` if it was added within the window before `now`. */
  get(id: string, now: number): V | undefined {
    const entry = this.#ids.get(id);
    return entry !== undefined && now - entry.at < this.#window.windowMs ? entry.value : undefined;
  }

  /** Adds (or renews) `id` at `now`, then enforces both bounds. */
  add(id: string, now: number, value: V): void {
    if (this.#window.maxIds === 0) return;
    this.#ids.delete(id);
    this.#ids.set(id, { at: now, value });
    this.sweep(now);
    for (const [oldest, entry] of this.#ids) {
      if (this.#ids.size <= this.#window.maxIds) break;
      if (now - entry.at < this.#window.windowMs) this.earlyEvictions++;
      this.#ids.delete(oldest);
    }
  }

  /** Drops the ids whose time is up. */
  sweep(now: number): void {
    for (const [id, entry] of this.#ids) {
      if (now - entry.at < this.#window.windowMs) break;
      this.#ids.delete(id);
    }
  }

  /** Counters for metrics and stats. */
  stats(): RecentIdsStats {
    return { held: this.#ids.size, earlyEvictions: this.earlyEvictions };
  }
}

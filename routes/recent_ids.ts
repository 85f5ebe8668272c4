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

/** One held id: the map and the queue share the object, so a renewed id's old place is told apart. */
interface Entry<V> {
  id: string;
  at: number;
  value: V;
}

/**
 * Ids with the time they were added and a value each. Lookups go to a Map;
 * the order of adding is a queue of its own, read from the front, so both
 * bounds are enforced from the oldest id at a constant cost per add. (Taking
 * the oldest from the Map itself would iterate from its start, which in V8
 * walks past every entry deleted since the table was last rebuilt: tens of
 * thousands once the window is full.)
 */
export class RecentIds<V = true> {
  readonly #ids = new Map<string, Entry<V>>();
  /** Entries oldest first from `#head`; a renewed id leaves its old entry behind, skipped. */
  #order: Entry<V>[] = [];
  #head = 0;
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
    const entry = { id, at: now, value };
    this.#ids.set(id, entry);
    this.#order.push(entry);
    this.sweep(now);
    while (this.#ids.size > this.#window.maxIds) {
      const oldest = this.#shift()!;
      if (this.#ids.get(oldest.id) !== oldest) continue;
      if (now - oldest.at < this.#window.windowMs) this.earlyEvictions++;
      this.#ids.delete(oldest.id);
    }
    this.#compact();
  }

  /** Drops the ids whose time is up. */
  sweep(now: number): void {
    while (this.#head < this.#order.length) {
      const oldest = this.#order[this.#head]!;
      if (now - oldest.at < this.#window.windowMs) break;
      this.#head++;
      if (this.#ids.get(oldest.id) === oldest) this.#ids.delete(oldest.id);
    }
    this.#compact();
  }

  /** Counters for metrics and stats. */
  stats(): RecentIdsStats {
    return { held: this.#ids.size, earlyEvictions: this.earlyEvictions };
  }

  #shift(): Entry<V> | undefined {
    return this.#head < this.#order.length ? this.#order[this.#head++] : undefined;
  }

  /** Drops the queue's consumed front once it is most of the array. */
  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#order.length) {
      this.#order = this.#order.slice(this.#head);
      this.#head = 0;
    }
  }
}

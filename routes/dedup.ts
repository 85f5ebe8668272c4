/**
 * The gateway's memory of client event ids: the ids it acknowledged within
 * the `dedup:` window, and the ids whose first write is still in flight, so
 * that a repeat waits for that write's outcome instead of writing again.
 *
 * @module
 */
import type { DedupConfig } from "../config/mod.ts";
import { RecentIds, type RecentIdsStats } from "./recent_ids.ts";

/** What /metrics reads from a {@linkcode DedupWindow} when it is scraped. */
export interface DedupStats extends RecentIdsStats {
  windowMs: number;
  maxIds: number;
  /** Repeats answered without a write. */
  duplicates: number;
}

/** Client event ids acknowledged recently, and those being written now. */
export class DedupWindow {
  readonly #acked: RecentIds;
  /** Ids being written, each with the promise settled when that write is. */
  readonly #writing = new Map<string, { settled: Promise<void>; settle: () => void }>();
  duplicates = 0;

  constructor(config: DedupConfig) {
    this.#acked = new RecentIds({ windowMs: config.window_ms, maxIds: config.max_ids });
  }

  /** Whether ids are remembered at all (`max_ids: 0` turns dedup off). */
  get enabled(): boolean {
    return this.#acked.window.maxIds > 0;
  }

  /** Takes the bounds of a reloaded config; the ids held are kept. */
  resize(config: DedupConfig): void {
    this.#acked.resize({ windowMs: config.window_ms, maxIds: config.max_ids });
  }

  /**
   * Where `id` stands at `now`: acknowledged within the window, being written
   * (with the promise of that write's outcome), or free to write.
   */
  state(id: string, now: number): "acked" | Promise<void> | "free" {
    if (this.#acked.get(id, now) !== undefined) return "acked";
    return this.#writing.get(id)?.settled ?? "free";
  }

  /** Marks `id` as being written; its repeats wait until {@linkcode settle}. */
  claim(id: string): void {
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    this.#writing.set(id, { settled, settle });
  }

  /**
   * Ends the writes of `ids`: acknowledged at `now` when `acked`, free again
   * otherwise (a failed write is not remembered, so its retry writes).
   */
  settle(ids: Iterable<string>, acked: boolean, now: number): void {
    for (const id of ids) {
      if (acked) this.#acked.add(id, now, true);
      this.#writing.get(id)?.settle();
      this.#writing.delete(id);
    }
  }

  /** Counters and bounds for /metrics; expired ids are dropped first. */
  stats(now: number): DedupStats {
    this.#acked.sweep(now);
    const { windowMs, maxIds } = this.#acked.window;
    return { ...this.#acked.stats(), windowMs, maxIds, duplicates: this.duplicates };
  }
}

/**
 * Where a worker process keeps the Parquet sink's write-ahead log, and what
 * its segments (and so its lake files) are called. With one worker, the
 * default: `<dir>/_wal/`, segments `<time>-<seq>`. Worker `i` of several:
 * `<dir>/_wal/w<i>/`, segments `w<i>-<time>-<seq>`. File names derive from
 * the segment id, so several workers share one lake without clashes, and a
 * replay rewrites the same names whichever worker runs it.
 *
 * @module
 */
import type { WorkerSlot } from "../contract.ts";

/** A worker's log folder, its segment tag, and the folders it replays at startup. */
export interface LogLayout {
  /** The folder new segments go to. */
  walDir: string;
  /** Prefix of this worker's segment ids (`w<i>-`), or "" with one worker. */
  tag: string;
  /**
   * Folders whose segments this worker replays besides its own: worker 0
   * takes those no current worker owns, left by a run with another number
   * of workers.
   */
  orphans(): Promise<string[]>;
  /**
   * Whether a temporary file a crash left is this worker's to remove: its
   * own, and for worker 0 also those of no current worker. A sibling's may
   * be a file it is writing.
   */
  ownsTemp(name: string): boolean;
}

const WORKER_DIR = /^w(\d+)$/;
const WORKER_TEMP = /^\.herald-w(\d+)-/;

/** The log layout of `worker` (default: the only one) in the lake folder `dir`. */
export function logLayout(dir: string, worker: WorkerSlot = { index: 0, count: 1 }): LogLayout {
  const root = `${dir}/_wal`;
  const single = worker.count <= 1;
  return {
    walDir: single ? root : `${root}/w${worker.index}`,
    tag: single ? "" : `w${worker.index}-`,
    async orphans() {
      if (worker.index !== 0) return [];
      const found = single ? [] : [root];
      for await (const entry of Deno.readDir(root)) {
        const match = entry.isDirectory ? entry.name.match(WORKER_DIR) : null;
        if (match && (single || Number(match[1]) >= worker.count)) {
          found.push(`${root}/${entry.name}`);
        }
      }
      return found.sort();
    },
    ownsTemp(name) {
      if (single) return true;
      const of = Number(name.match(WORKER_TEMP)?.[1] ?? -1);
      if (worker.index !== 0) return of === worker.index;
      return of === 0 || of < 0 || of >= worker.count;
    },
  };
}

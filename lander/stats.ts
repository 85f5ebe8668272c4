/**
 * The lander's counters, shared by the parts that count: for progress lines
 * and the exit line.
 *
 * @module
 */

/** Counters for progress lines and the exit line. */
export interface LanderStats {
  /** Records read (landed, rejected or skipped once their range is flushed). */
  records: number;
  rejected: number;
  skipped: number;
  /** Repeats of an event id landed within the dedup window, dropped. */
  duplicates: number;
  files: number;
  commits: number;
}

/** Counters at zero. */
export function emptyStats(): LanderStats {
  return { records: 0, rejected: 0, skipped: 0, duplicates: 0, files: 0, commits: 0 };
}

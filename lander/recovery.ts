/**
 * The claims of one consumer group in the lake, as the lander follows them:
 * a partition resumed at a claimed offset rebuilds exactly the claimed range,
 * a new range is claimed before its files are written (an earlier claim with
 * another end wins), and claims of committed ranges are pruned after a while.
 * The claim files themselves are `claims.ts`.
 *
 * @module
 */
import type { Logger } from "pino";
import type { PartitionBuffer } from "./buffer.ts";
import { claim, pruneClaims, type Range, readClaim } from "./claims.ts";

/** How long the claims of committed ranges are kept (see {@linkcode pruneClaims}). */
const CLAIM_RETENTION_MS = 60 * 60 * 1000;

/** How often one partition's claims are pruned at most. */
const PRUNE_EVERY_MS = 60_000;

/** The claims of `group` under `<lake>/_land/<group>/<topic>-<partition>/`. */
export class GroupClaims {
  readonly #lake: string;
  readonly #group: string;
  readonly #logger: Logger;

  /** Claims of `group` in the lake folder `lake`. */
  constructor(lake: string, group: string, logger: Logger) {
    this.#lake = lake;
    this.#group = group;
    this.#logger = logger;
  }

  /** The folder of one topic partition's claims. */
  dir(topic: string, partition: number): string {
    const group = encodeURIComponent(this.#group);
    return `${this.#lake}/_land/${group}/${encodeURIComponent(topic)}-${partition}`;
  }

  /**
   * The range to rebuild when a partition resumes at `first`, or null. The
   * group resumes from the committed offset: a claim starting there was never
   * committed and must be rebuilt as claimed.
   */
  async resume(topic: string, partition: number, first: number): Promise<Range | null> {
    const replay = await readClaim(this.dir(topic, partition), first);
    if (replay) this.#logger.info({ topic, partition, ...replay }, "rebuilding a claimed range");
    return replay;
  }

  /** Claims `range` of the buffer's partition and returns the claim that holds. */
  async take(buffer: PartitionBuffer, range: Range): Promise<Range> {
    const { topic, partition } = buffer;
    const claimed = await claim(this.dir(topic, partition), range);
    if (claimed.last !== range.last) {
      this.#logger.warn(
        { topic, partition, ours: range, claimed },
        "offset already claimed with another end; landing the claimed range",
      );
    }
    return claimed;
  }

  /** Prunes the buffer's claims before offset `committed`, once a minute at most. */
  async prune(buffer: PartitionBuffer, committed: number): Promise<void> {
    if (Date.now() - buffer.prunedAt < PRUNE_EVERY_MS) return;
    buffer.prunedAt = Date.now();
    await pruneClaims(this.dir(buffer.topic, buffer.partition), committed, {
      retentionMs: CLAIM_RETENTION_MS,
    });
  }
}

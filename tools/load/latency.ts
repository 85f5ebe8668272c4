/**
 * Latency percentiles from an HDR histogram (`hdr-histogram-js`, its plain JS
 * build): microseconds with 3 significant digits, so every percentile is
 * within 0.1% of the exact one and memory stays bounded however long a run
 * lasts. Shared by the load tool and anything else that times requests.
 *
 * ```ts
 * import { LatencyRecorder } from "./latency.ts";
 *
 * const latency = new LatencyRecorder();
 * latency.record(1.25); // ms
 * console.log(latency.percentile(99), latency.max);
 * ```
 *
 * @module
 */
import * as hdr from "hdr-histogram-js";

/** Significant decimal digits the histogram keeps: 3 is 0.1% precision. */
export const SIGNIFICANT_DIGITS = 3;
/** The largest latency the histogram holds before it grows: one hour, in microseconds. */
const HIGHEST_MICROS = 3_600_000_000;

/** Latencies in milliseconds, recorded as whole microseconds. */
export class LatencyRecorder {
  readonly #histogram = hdr.build({
    bitBucketSize: 32,
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_MICROS,
    numberOfSignificantValueDigits: SIGNIFICANT_DIGITS,
    autoResize: true,
    useWebAssembly: false,
  });
  #max = NaN;

  /** How many values were recorded. */
  get count(): number {
    return this.#histogram.totalCount;
  }

  /** The largest value, exact; `NaN` when there is none. */
  get max(): number {
    return this.#max;
  }

  /** Records one latency in milliseconds (negative ones count as 0). */
  record(ms: number): void {
    if (!(ms <= this.#max)) this.#max = ms;
    this.#histogram.recordValue(Math.max(0, Math.round(ms * 1000)));
  }

  /**
   * The `p`th percentile (0 to 100) in milliseconds, within 0.1% of the
   * nearest-rank value and never above the largest one; `NaN` when empty.
   */
  percentile(p: number): number {
    if (this.#histogram.totalCount === 0) return NaN;
    return Math.min(this.#histogram.getValueAtPercentile(p) / 1000, this.#max);
  }
}

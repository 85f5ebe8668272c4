/**
 * How the bench writes numbers: counts with thousands separators,
 * milliseconds, shares, multiples and wall times.
 *
 * @module
 */

/** An integer with thousands separators: `15670.4` -> `"15,670"`. */
export function formatCount(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** Milliseconds with a precision that suits their size. */
export function formatMs(ms: number): string {
  if (ms >= 100) return Math.round(ms).toString();
  if (ms >= 10) return ms.toFixed(1);
  return ms.toFixed(2);
}

/** A share as a percentage: `0.374` -> `"37%"`. */
export function formatPercent(r: number): string {
  return `${Math.round(r * 100)}%`;
}

/** A multiple: `11.04` -> `"11.0x"`; large ones without decimals. */
export function formatTimes(r: number): string {
  return r >= 100 ? `${Math.round(r)}x` : `${r.toFixed(1)}x`;
}

/** Minutes and seconds: `312` -> `"5 min 12 s"`. */
export function formatWall(seconds: number): string {
  const s = Math.round(seconds);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/**
 * Rate limits: token buckets per client IP or per write key, with a bound on
 * how many buckets are held.
 *
 * @module
 */
import type { RateLimitConfig } from "../config/mod.ts";

/**
 * Token buckets by key, at most `max` of them: the least recently used bucket
 * is dropped first, so a flood of new IPs cannot grow memory without bound.
 */
export class TokenBuckets {
  #rate: number;
  #burst: number;
  #max: number;
  #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(options: { ratePerS: number; burst: number; max: number }) {
    this.#rate = options.ratePerS;
    this.#burst = options.burst;
    this.#max = options.max;
  }

  /** Takes one token; returns 0 when granted, else the seconds until one is available. */
  take(key: string, nowMs: number): number {
    const bucket = this.#buckets.get(key) ?? { tokens: this.#burst, at: nowMs };
    this.#buckets.delete(key);
    bucket.tokens = Math.min(
      this.#burst,
      bucket.tokens + ((nowMs - bucket.at) / 1000) * this.#rate,
    );
    bucket.at = nowMs;
    this.#buckets.set(key, bucket);
    if (this.#buckets.size > this.#max) {
      this.#buckets.delete(this.#buckets.keys().next().value!);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return (1 - bucket.tokens) / this.#rate;
  }

  /** Buckets held now. */
  get size(): number {
    return this.#buckets.size;
  }
}

/** The buckets of a configured limit, or null when the limit is off. */
export function limiter(limit: RateLimitConfig["per_ip"], max: number): TokenBuckets | null {
  return limit ? new TokenBuckets({ ratePerS: limit.rate_per_s, burst: limit.burst, max }) : null;
}

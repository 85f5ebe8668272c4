/**
 * Kafka's default partitioner hash: murmur2 of the key's UTF-8 bytes, as the
 * Java client computes it (`Utils.murmur2`), so Herald puts a key in the
 * partition every other Kafka producer would. 32-bit arithmetic with
 * `Math.imul`: the client library's BigInt version cost about 2 µs per key.
 *
 * @module
 */

const SEED = 0x9747b28c;
const M = 0x5bd1e995;
const encoder = new TextEncoder();
let scratch = new Uint8Array(256);

/** murmur2 of `key`'s UTF-8 bytes, as a signed 32-bit integer. */
export function murmur2(key: string): number {
  if (scratch.length < key.length * 3) scratch = new Uint8Array(key.length * 3);
  const length = encoder.encodeInto(key, scratch).written;
  const data = scratch;
  let h = SEED ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  switch (length & 3) {
    case 3:
      h ^= data[whole + 2]! << 16;
    // falls through
    case 2:
      h ^= data[whole + 1]! << 8;
    // falls through
    case 1:
      h ^= data[whole]!;
      h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition of `key` among `count`: Kafka's `toPositive(murmur2(key)) % count`. */
export function partitionOfKey(key: string, count: number): number {
  return (murmur2(key) & 0x7fffffff) % count;
}

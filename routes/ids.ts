/**
 * Time-ordered UUIDv7 ids (RFC 9562): 48 bits of Unix milliseconds, then a
 * 12-bit counter that keeps ids from the same millisecond in order, then 62
 * random bits.
 *
 * @module
 */

const POOL_IDS = 256;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Creates a UUIDv7 generator; ids it returns sort in creation order. */
export function uuidv7Generator(
  fillRandom: (bytes: Uint8Array) => void = (b) => crypto.getRandomValues(b),
): (nowMs: number) => string {
  let lastMs = -1;
  let counter = 0;
  const bytes = new Uint8Array(16);
  // Random bytes come from a pool refilled every POOL_IDS ids: one call to the
  // system's source per id cost more than the rest of the id.
  const pool = new Uint8Array(16 * POOL_IDS);
  let used = POOL_IDS;
  return (nowMs) => {
    if (used === POOL_IDS) {
      fillRandom(pool);
      used = 0;
    }
    bytes.set(pool.subarray(used * 16, ++used * 16));
    let ms = Math.max(Math.floor(nowMs), lastMs);
    if (ms === lastMs) {
      counter++;
      if (counter > 0xfff) {
        ms++; // counter exhausted: borrow the next millisecond
        counter = 0;
      }
    } else counter = bytes[6]! & 0x7; // random start, leaving room to count up
    lastMs = ms;
    for (let i = 5; i >= 0; i--) {
      bytes[i] = ms % 256;
      ms = Math.floor(ms / 256);
    }
    bytes[6] = 0x70 | (counter >> 8);
    bytes[7] = counter & 0xff;
    bytes[8] = 0x80 | (bytes[8]! & 0x3f);
    let out = "";
    for (let i = 0; i < 16; i++) {
      if (i === 4 || i === 6 || i === 8 || i === 10) out += "-";
      out += HEX[bytes[i]!];
    }
    return out;
  };
}

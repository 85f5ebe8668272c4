/**
 * The live page's key: read once at startup from `live.key_env` or
 * `live.key_file`. A browser trades it once (`POST /live/login`) for a
 * session cookie: `HttpOnly` (scripts cannot read it), `SameSite=Strict`
 * (other sites cannot send it), scoped to `/live`, holding an expiry and an
 * HMAC of it under the key. The cookie is checked without server state, so
 * it works on every worker process, and changing the key ends every
 * session. Tools may send the key itself as `Authorization: Bearer <key>`.
 * The key never travels in a URL, where logs would keep it.
 *
 * @module
 */
import type { LiveConfig } from "../config/mod.ts";
import {
  readSecret,
  sameBytes,
  type SecretSource,
  sha256,
  SYSTEM_SECRETS,
} from "../config/secrets.ts";

/** The session cookie's name. */
export const COOKIE = "herald_live";
/** Wrong guesses of the key taken within {@linkcode FAILURE_WINDOW_MS}, per process. */
export const MAX_FAILURES = 10;
/** The span over which wrong guesses are counted. */
const FAILURE_WINDOW_MS = 60_000;
/** How long a session lasts. */
const SESSION_S = 12 * 3600;

const encoder = new TextEncoder();

function hex(bytes: ArrayBuffer): string {
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The page's key, checked in constant time, and the sessions it signs. */
export class LiveKey {
  readonly #hmac: Promise<CryptoKey>;
  readonly #digest: Promise<Uint8Array>;
  readonly #now: () => number;
  /** Times of the last wrong guesses, oldest first, at most {@linkcode MAX_FAILURES}. */
  readonly #failures: number[] = [];

  constructor(value: string, now: () => number = Date.now) {
    const bytes = encoder.encode(value);
    this.#hmac = crypto.subtle.importKey(
      "raw",
      bytes,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
    this.#digest = sha256(bytes);
    this.#now = now;
  }

  /**
   * Whether `presented` is the key (both hashed, then compared without an
   * early exit). After {@linkcode MAX_FAILURES} wrong guesses within
   * {@linkcode FAILURE_WINDOW_MS}, no guess is taken, right or wrong, until
   * the oldest of them is that old: see {@linkcode lockedForS}.
   */
  async matches(presented: string): Promise<boolean> {
    if (this.lockedForS() > 0) return false;
    const [a, b] = await Promise.all([sha256(encoder.encode(presented)), this.#digest]);
    if (sameBytes(a, b)) return true;
    this.#failures.push(this.#now());
    if (this.#failures.length > MAX_FAILURES) this.#failures.shift();
    return false;
  }

  /** Seconds until a guess is taken again (0: now). */
  lockedForS(): number {
    const now = this.#now();
    while (this.#failures.length > 0 && now - this.#failures[0]! >= FAILURE_WINDOW_MS) {
      this.#failures.shift();
    }
    if (this.#failures.length < MAX_FAILURES) return 0;
    return Math.ceil((this.#failures[0]! + FAILURE_WINDOW_MS - now) / 1000);
  }

  /**
   * A new session token: `<expiry s>.<nonce hex>.<hmac hex>`. The nonce keeps
   * two sessions of the same second apart; a token is still valid until it
   * expires (there is no server state to revoke it: a new key ends them all).
   */
  async session(): Promise<string> {
    const expires = Math.floor(this.#now() / 1000) + SESSION_S;
    const nonce = hex(crypto.getRandomValues(new Uint8Array(16)).buffer);
    const signed = encoder.encode(`${expires}.${nonce}`);
    const mac = await crypto.subtle.sign("HMAC", await this.#hmac, signed);
    return `${expires}.${nonce}.${hex(mac)}`;
  }

  /** Whether `token` is a session this key signed that has not expired. */
  async validSession(token: string | undefined): Promise<boolean> {
    const match = token?.match(/^(\d{1,12})\.([0-9a-f]{32})\.([0-9a-f]{64})$/);
    if (!match || Number(match[1]) * 1000 < this.#now()) return false;
    const mac = Uint8Array.from(match[3]!.match(/../g)!, (b) => parseInt(b, 16));
    const signed = encoder.encode(`${match[1]}.${match[2]}`);
    return await crypto.subtle.verify("HMAC", await this.#hmac, mac, signed);
  }

  /** The session lifetime, for the cookie's `Max-Age`. */
  static readonly sessionSeconds = SESSION_S;
}

/**
 * Reads the key `live` names, or null when it names none. Throws naming the
 * variable or file when it is unset, unreadable or empty, so Herald stops at
 * startup.
 */
export function resolveLiveKey(
  live: LiveConfig,
  source: SecretSource = SYSTEM_SECRETS,
): LiveKey | null {
  const value = readSecret("Live page key", { env: live.key_env, file: live.key_file }, source);
  return value === undefined ? null : new LiveKey(value);
}

/**
 * What stands between the open internet and the event routes: write keys
 * (with optional HMAC signing), token-bucket rate limits per client IP and
 * per key, and CORS for browser games. Each is off until the config turns it
 * on; none of them ever writes an event.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import type { GatewayConfig, RateLimitConfig, WriteKeyConfig } from "../config/mod.ts";
import { clientIp } from "./enrich.ts";
import { bodyLimits, errorBody, type HeraldEnv, readRawBody } from "./_shared.ts";

/** Where a write key's value is read from, injectable for tests. */
export interface SecretSource {
  env(name: string): string | undefined;
  readFile(path: string): string;
}

const SYSTEM_SECRETS: SecretSource = {
  env: (name) => Deno.env.get(name),
  readFile: (path) => Deno.readTextFileSync(path),
};

interface ResolvedKey {
  name: string;
  value: Uint8Array;
  digest: Promise<Uint8Array>;
  hmac: Promise<CryptoKey> | null;
}

const encoder = new TextEncoder();
const sha256 = async (data: Uint8Array) =>
  new Uint8Array(await crypto.subtle.digest("SHA-256", data as BufferSource));

/** Reads every key's value now, so a missing secret stops Herald at startup. */
export function resolveWriteKeys(
  keys: readonly WriteKeyConfig[],
  secrets: SecretSource = SYSTEM_SECRETS,
): ResolvedKey[] {
  return keys.map((key) => {
    let text: string | undefined;
    if (key.value_env !== undefined) {
      text = secrets.env(key.value_env);
      if (!text) throw new Error(`Write key "${key.name}": env ${key.value_env} is not set`);
    } else {
      try {
        text = secrets.readFile(key.value_file!).trim();
      } catch (error) {
        throw new Error(
          `Write key "${key.name}": cannot read ${key.value_file}: ${(error as Error).message}`,
        );
      }
      if (!text) throw new Error(`Write key "${key.name}": ${key.value_file} is empty`);
    }
    const value = encoder.encode(text);
    return {
      name: key.name,
      value,
      digest: sha256(value),
      hmac: key.hmac
        ? crypto.subtle.importKey(
          "raw",
          value as BufferSource,
          { name: "HMAC", hash: "SHA-256" },
          false,
          ["verify"],
        )
        : null,
    };
  });
}

/** Equal-length byte arrays compared without an early exit. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length && i < b.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** The password of an HTTP Basic `Authorization` header, if any. */
function basicPassword(header: string | undefined): string | undefined {
  const match = header?.match(/^Basic\s+([A-Za-z0-9+/=]+)\s*$/i);
  if (!match) return undefined;
  try {
    const decoded = atob(match[1]!);
    const colon = decoded.indexOf(":");
    return colon >= 0 ? decoded.slice(colon + 1) : undefined;
  } catch {
    return undefined;
  }
}

function fromHex(hex: string): Uint8Array | null {
  if (!/^(?:[0-9a-f]{2})+$/i.test(hex)) return null;
  return Uint8Array.from(hex.match(/../g)!, (b) => parseInt(b, 16));
}

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

function limiter(limit: RateLimitConfig["per_ip"], max: number): TokenBuckets | null {
  return limit ? new TokenBuckets({ ratePerS: limit.rate_per_s, burst: limit.burst, max }) : null;
}

function tooMany(c: Context<HeraldEnv>, what: string, waitS: number): Response {
  c.header("retry-after", String(Math.max(1, Math.ceil(waitS))));
  return c.json(errorBody("rate_limited", `Too many requests ${what}: retry later`), 429);
}

function unauthorized(c: Context<HeraldEnv>, message: string): Response {
  c.header("www-authenticate", 'Basic realm="herald"');
  return c.json(errorBody("unauthorized", message), 401);
}

/**
 * The guard middlewares for the event routes (`isEventPath`), in order: CORS,
 * the per-IP limit, write keys and signatures, the per-key limit. The key's
 * name is set as `source` for the event.
 */
export function guards(
  config: GatewayConfig,
  isEventPath: (path: string) => boolean,
  options: { now: () => number; secrets?: SecretSource },
): MiddlewareHandler<HeraldEnv>[] {
  const out: MiddlewareHandler<HeraldEnv>[] = [];
  if (config.cors.origins.length > 0) {
    const origins = config.cors.origins;
    out.push(cors({
      origin: origins.includes("*") ? "*" : origins,
      credentials: config.cors.credentials,
      maxAge: config.cors.max_age_s,
      allowMethods: ["GET", "POST"],
      allowHeaders: [
        "Content-Type",
        "X-Write-Key",
        "Authorization",
        "X-Herald-Timestamp",
        "X-Herald-Signature",
      ],
      exposeHeaders: ["X-Request-Id", "Retry-After"],
    }));
  }

  const perIp = limiter(config.rate_limit.per_ip, config.rate_limit.max_tracked);
  if (perIp) {
    out.push(async (c, next) => {
      if (!isEventPath(c.req.path)) return next();
      const peer = c.env?.remoteAddr?.hostname ?? null;
      const ip = clientIp(c.req.raw.headers, peer, config.server.trust_proxy) ?? "?";
      const wait = perIp.take(ip, options.now());
      if (wait > 0) return tooMany(c, `from ${ip}`, wait);
      await next();
    });
  }

  const keys = resolveWriteKeys(config.auth.write_keys, options.secrets);
  const perKey = limiter(config.rate_limit.per_key, config.rate_limit.max_tracked);
  if (keys.length > 0) {
    const maxAgeS = config.auth.hmac_max_age_s;
    out.push(async (c, next) => {
      if (!isEventPath(c.req.path)) return next();
      const presented = c.req.header("x-write-key") ?? basicPassword(c.req.header("authorization"));
      if (!presented) {
        return unauthorized(c, "Missing write key: send X-Write-Key or HTTP Basic credentials");
      }
      const digest = await sha256(encoder.encode(presented));
      let key: ResolvedKey | null = null;
      for (const candidate of keys) {
        // Every key is compared, in full, whatever matched before.
        if (sameBytes(digest, await candidate.digest) && key === null) key = candidate;
      }
      if (!key) return unauthorized(c, "Invalid write key");
      if (key.hmac) {
        const stamp = c.req.header("x-herald-timestamp") ?? "";
        const signature = fromHex(
          c.req.header("x-herald-signature")?.replace(/^sha256=/, "") ?? "",
        );
        if (!/^\d{1,12}$/.test(stamp) || !signature) {
          return unauthorized(
            c,
            "This key must sign: send X-Herald-Timestamp and X-Herald-Signature: sha256=<hex>",
          );
        }
        if (Math.abs(options.now() / 1000 - Number(stamp)) > maxAgeS) {
          return unauthorized(
            c,
            `Signature timestamp is more than ${maxAgeS} s away: replay refused`,
          );
        }
        const body = await readRawBody(c, bodyLimits(config.server));
        const signed = new Uint8Array([...encoder.encode(`${stamp}.`), ...body]);
        const valid = await crypto.subtle.verify(
          "HMAC",
          await key.hmac,
          signature as BufferSource,
          signed as BufferSource,
        );
        if (!valid) return unauthorized(c, "Invalid signature");
      }
      if (perKey) {
        const wait = perKey.take(key.name, options.now());
        if (wait > 0) return tooMany(c, `for key "${key.name}"`, wait);
      }
      c.set("source", key.name);
      await next();
    });
  }
  return out;
}

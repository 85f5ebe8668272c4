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
import type { GatewayConfig } from "../config/mod.ts";
import { clientIp } from "./enrich.ts";
import { limiter } from "./rate_limit.ts";
import { errorBody, type HeraldEnv } from "./_shared.ts";
import { bodyLimits, readRawBody } from "./body.ts";
import {
  basicKey,
  matchKey,
  resolveWriteKeys,
  type SecretSource,
  signatureOf,
  validSignature,
} from "./write_keys.ts";

export { TokenBuckets } from "./rate_limit.ts";
export { resolveWriteKeys, type SecretSource } from "./write_keys.ts";

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
        "Content-Encoding",
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
      const presented = c.req.header("x-write-key") ?? basicKey(c.req.header("authorization"));
      if (!presented) {
        return unauthorized(c, "Missing write key: send X-Write-Key or HTTP Basic credentials");
      }
      const key = await matchKey(keys, presented);
      if (!key) return unauthorized(c, "Invalid write key");
      if (key.hmac) {
        const stamp = c.req.header("x-herald-timestamp") ?? "";
        const signature = signatureOf(c.req.header("x-herald-signature"));
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
        const valid = await validSignature(key.hmac, stamp, signature, body);
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

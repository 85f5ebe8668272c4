/**
 * The `auth:`, `rate_limit:` and `cors:` sections: who may send events, how
 * fast, and from which browser origins.
 *
 * @module
 */
import {
  boolean,
  doc,
  IDENTIFIER,
  type Infer,
  list,
  number,
  object,
  optional,
  positiveInt,
  type Schema,
  string,
  withDefault,
} from "./schema.ts";
import { withSecret } from "./secrets.ts";

const writeKeyFields = object({
  name: doc(string(IDENTIFIER), "unique, lowercase `a-z0-9_`; becomes the event's `source`"),
  value_env: doc(
    optional(string({ pattern: /^[A-Za-z_][A-Za-z0-9_]*$/, hint: "an env name" })),
    "the env variable holding the key's value (exactly one of this and the next)",
  ),
  value_file: doc(optional(string({ minLength: 1 })), "the file holding the key's value"),
  // For server-to-server senders.
  hmac: doc(withDefault(boolean(), false), "requests with this key must also be signed"),
});

/** One write key: its name, and where its value comes from (never the YAML). */
export type WriteKeyConfig = Infer<typeof writeKeyFields>;

const writeKeySchema: Schema<WriteKeyConfig> = withSecret(writeKeyFields, {
  literal: "value",
  env: "value_env",
  file: "value_file",
  required: true,
  what: "a key's value",
});

const bucketSchema = object({
  rate_per_s: doc(number({ min: 0.001 }), "tokens added per second (at least 0.001)"),
  burst: doc(positiveInt(), "bucket size: requests allowed at once (a positive integer)"),
});

/** The schemas of the `auth:`, `rate_limit:` and `cors:` sections. */
export const guardSchemas = {
  /** Write keys; none (the default) means anyone may send events. */
  auth: object({
    write_keys: doc(
      withDefault(list(writeKeySchema), []),
      "write keys, see [Security](security.md#write-keys)",
      { default: "`[]` (off)" },
    ),
    hmac_max_age_s: doc(
      withDefault(positiveInt(), 300),
      "signed requests whose timestamp is further from now are refused as replays",
    ),
  }),
  /** Token buckets per client IP and per write key; absent means no limit. */
  rate_limit: object({
    per_ip: doc(
      optional(bucketSchema),
      "`{rate_per_s, burst}`: a token bucket per client IP (with `trust_proxy`, the forwarded one)",
      { default: "(off)" },
    ),
    per_key: doc(
      optional(bucketSchema),
      "`{rate_per_s, burst}`: a token bucket per write key",
      { default: "(off)" },
    ),
    max_tracked: doc(
      withDefault(positiveInt(), 100_000),
      "buckets kept; the least recently used are dropped first",
    ),
  }),
  /** Browser origins allowed to call Herald; none (the default) sends no CORS headers. */
  cors: object({
    origins: doc(
      withDefault(list(string({ minLength: 1 })), []),
      'browser origins allowed to call Herald (`"*"` for any)',
      { default: "`[]` (off)" },
    ),
    credentials: doc(
      withDefault(boolean(), false),
      "send `Access-Control-Allow-Credentials: true`",
    ),
    max_age_s: doc(withDefault(positiveInt(), 600), "how long browsers may cache a preflight"),
  }),
};

/** The `auth:` section. */
export type AuthConfig = Infer<typeof guardSchemas.auth>;
/** The `rate_limit:` section. */
export type RateLimitConfig = Infer<typeof guardSchemas.rate_limit>;
/** The `cors:` section. */
export type CorsConfig = Infer<typeof guardSchemas.cors>;

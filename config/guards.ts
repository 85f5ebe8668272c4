/**
 * The `auth:`, `rate_limit:` and `cors:` sections: who may send events, how
 * fast, and from which browser origins.
 *
 * @module
 */
import {
  boolean,
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

const writeKeyFields = object({
  name: string(IDENTIFIER),
  value_env: optional(string({ pattern: /^[A-Za-z_][A-Za-z0-9_]*$/, hint: "an env name" })),
  value_file: optional(string({ minLength: 1 })),
  /** Requests with this key must also be signed (server-to-server senders). */
  hmac: withDefault(boolean(), false),
});

/** One write key: its name, and where its value comes from (never the YAML). */
export type WriteKeyConfig = Infer<typeof writeKeyFields>;

const writeKeySchema: Schema<WriteKeyConfig> = {
  parse(value, path, issues) {
    if (typeof value === "object" && value !== null && Object.hasOwn(value, "value")) {
      issues.push({
        path: [...path, "value"],
        message: "a key's value never goes in the config: use value_env or value_file",
        key: true,
      });
      return undefined;
    }
    const key = writeKeyFields.parse(value, path, issues);
    if (key && (key.value_env === undefined) === (key.value_file === undefined)) {
      issues.push({ path, message: "give exactly one of value_env and value_file" });
      return undefined;
    }
    return key;
  },
};

const bucketSchema = object({
  rate_per_s: number({ min: 0.001 }),
  burst: positiveInt(),
});

/** The schemas of the `auth:`, `rate_limit:` and `cors:` sections. */
export const guardSchemas = {
  /** Write keys; none (the default) means anyone may send events. */
  auth: object({
    write_keys: withDefault(list(writeKeySchema), []),
    /** Signed requests older (or newer) than this are refused as replays. */
    hmac_max_age_s: withDefault(positiveInt(), 300),
  }),
  /** Token buckets per client IP and per write key; absent means no limit. */
  rate_limit: object({
    per_ip: optional(bucketSchema),
    per_key: optional(bucketSchema),
    /** Buckets kept at most; the least recently used go first. */
    max_tracked: withDefault(positiveInt(), 100_000),
  }),
  /** Browser origins allowed to call Herald; none (the default) sends no CORS headers. */
  cors: object({
    origins: withDefault(list(string({ minLength: 1 })), []),
    credentials: withDefault(boolean(), false),
    max_age_s: withDefault(positiveInt(), 600),
  }),
};

/** The `auth:` section. */
export type AuthConfig = Infer<typeof guardSchemas.auth>;
/** The `rate_limit:` section. */
export type RateLimitConfig = Infer<typeof guardSchemas.rate_limit>;
/** The `cors:` section. */
export type CorsConfig = Infer<typeof guardSchemas.cors>;

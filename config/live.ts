/**
 * The `live:` section: the live events page (`GET /live`) and its stream,
 * off by default. Its key, like write keys, comes from the environment or a
 * file, never from the YAML.
 *
 * @module
 */
import {
  boolean,
  doc,
  type Infer,
  object,
  optional,
  positiveInt,
  type Schema,
  string,
  withDefault,
} from "./schema.ts";
import { withSecret } from "./secrets.ts";

const liveFields = object({
  enabled: doc(
    withDefault(boolean(), false),
    "serve the live events page at `/live` (flag `--live`); see [Live](live.md)",
  ),
  buffer_events: doc(
    withDefault(positiveInt(100_000), 1000),
    "the last events and rejections kept for a new viewer; also how far a viewer may fall " +
      "behind before its oldest are dropped (and counted)",
  ),
  max_events_per_s: doc(
    withDefault(positiveInt(), 200),
    "accepted events kept per second for the page; above it the page gets an even sample " +
      "and says so",
  ),
  max_rejections_per_s: doc(
    withDefault(positiveInt(), 100),
    "rejected requests kept per second, sampled like events",
  ),
  max_viewers: doc(
    withDefault(positiveInt(1000), 10),
    "viewers connected at once; one more gets 503",
  ),
  key_env: doc(
    optional(string({ pattern: /^[A-Za-z_][A-Za-z0-9_]*$/, hint: "an env name" })),
    "the env variable holding the page's key (at most one of this and the next); required " +
      "when write keys are configured",
    { default: "(none)" },
  ),
  key_file: doc(
    optional(string({ minLength: 1 })),
    "the file holding the page's key",
    { default: "(none)" },
  ),
});

/** The `live:` section. */
export type LiveConfig = Infer<typeof liveFields>;

/** The `live:` schema: a literal `key` is refused, and at most one key source is given. */
export const liveSchema: Schema<LiveConfig> = withSecret(liveFields, {
  literal: "key",
  env: "key_env",
  file: "key_file",
  required: false,
  what: "the page's key",
});

/**
 * Why the live page cannot be enabled as configured, or null: with write
 * keys, the page must have a key of its own (it shows every event).
 */
export function liveProblem(live: LiveConfig, writeKeys: number): string | null {
  if (!live.enabled || writeKeys === 0) return null;
  if (live.key_env !== undefined || live.key_file !== undefined) return null;
  return "write keys are configured, so the live page needs a key of its own: " +
    "set live.key_env or live.key_file";
}

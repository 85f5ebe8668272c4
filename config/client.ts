/**
 * The `dedup:` and `client_time:` sections: how long Herald remembers the
 * client event ids it acknowledged, and what it does with client clocks that
 * cannot be right.
 *
 * @module
 */
import { codeList, doc, type Infer, number, object, string, withDefault } from "./schema.ts";

const count = (fallback: number) => withDefault(number({ integer: true, min: 0 }), fallback);

/** The `dedup:` section. */
export const dedupSchema = object({
  window_ms: doc(
    withDefault(number({ integer: true, min: 1 }), 600_000),
    "a repeat of a client `event_id` acknowledged this recently is answered 2xx again and not " +
      "written (per process: each `--workers` worker has its own window)",
  ),
  max_ids: doc(
    count(100_000),
    "ids held at most (about 150 bytes each); past it the oldest go early, counted in " +
      "`herald_dedup_early_evictions_total`; 0 turns dedup off",
  ),
});

/** The `dedup:` section. */
export type DedupConfig = Infer<typeof dedupSchema>;

/** What an implausible client time becomes. */
export const INVALID_TIME = ["reject", "store_null"] as const;

/** The `client_time:` section. */
export const clientTimeSchema = object({
  max_future_ms: doc(
    withDefault(number({ integer: true, min: 0 }), 86_400_000),
    "`client_time` (skew-corrected when `sent_at` is given) later than `received_at` plus this " +
      "is implausible, as is any time before 2000-01-01",
  ),
  invalid: doc(
    withDefault(string({ values: INVALID_TIME }), "reject"),
    `${codeList(INVALID_TIME)}: an unparsable or implausible \`client_time\` or \`sent_at\` ` +
      "gets 400 naming the field, or is stored as null; counted either way",
  ),
});

/** The `client_time:` section. */
export type ClientTimeConfig = Infer<typeof clientTimeSchema>;

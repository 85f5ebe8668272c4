/**
 * The `stdout:` config section: the stdout sink's options.
 *
 * @module
 */
import { type Infer, object, positiveInt, withDefault } from "../config/schema.ts";

/** The `stdout:` config section. */
export const stdoutOptions = object({
  /** Bytes of formatted events allowed to wait for stdout (a slow pipe reader) before 503s. */
  max_pending_bytes: withDefault(positiveInt(), 16 * 1024 * 1024),
});

/** Options of the `stdout:` config section. */
export type StdoutOptions = Infer<typeof stdoutOptions>;

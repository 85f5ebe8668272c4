/**
 * The `stdout:` config section: the stdout sink's options.
 *
 * @module
 */
import { doc, type Infer, object, positiveInt, withDefault } from "../config/schema.ts";

/** The `stdout:` config section. */
export const stdoutOptions = object({
  max_pending_bytes: doc(
    withDefault(positiveInt(), 16 * 1024 * 1024),
    "formatted events allowed to wait for a slow stdout reader before 503",
  ),
});

/** Options of the `stdout:` config section. */
export type StdoutOptions = Infer<typeof stdoutOptions>;

/**
 * `deno task audit`: Herald's pinned npm dependencies against npm's advisory
 * database. Exit codes: 0 no known advisory, 1 advisories found, 2 the
 * database could not be reached. See `audit.ts`.
 *
 * @module
 */
import { audit } from "./audit.ts";

if (import.meta.main) Deno.exit(await audit());

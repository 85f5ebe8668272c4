/**
 * The npm audit of Herald's pinned dependencies, as a library:
 * {@linkcode audit} runs it, {@linkcode npmImports} lists what it checks.
 * `main.ts` is `deno task audit`.
 *
 * @module
 */
export { audit } from "./audit.ts";
export { npmImports } from "../../config/versions.ts";

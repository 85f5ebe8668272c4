/**
 * The two ways opening or querying the lake fails that the CLI reports as
 * they are (exit code 1), rather than as a crash.
 *
 * @module
 */

/** The lake folder is missing, not a folder, has no table yet, or a table cannot be read. */
export class LakeError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LakeError";
  }
}

/** DuckDB refused or failed a statement; the message is DuckDB's own. */
export class QueryError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "QueryError";
  }
}

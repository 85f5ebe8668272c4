/**
 * SQL over Herald's Parquet lake with DuckDB (the seeds' Presto), as a
 * library: {@linkcode openLake} gives one view per lake table. `main.ts` is
 * `deno task query`.
 *
 * @module
 */
export * from "./lake.ts";
export * from "./format.ts";
export * from "./cli.ts";

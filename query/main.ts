/**
 * `deno task query`: SQL over Herald's Parquet lake with DuckDB. See `lake.ts`.
 *
 * @module
 */
import { writeAll } from "../sinks/io.ts";
import { runCli } from "./cli.ts";

const encoder = new TextEncoder();

if (import.meta.main) {
  const outcome = await runCli(Deno.args, { HERALD_LAKE: Deno.env.get("HERALD_LAKE") });
  try {
    await writeAll(Deno.stderr, encoder.encode(outcome.stderr));
    await writeAll(Deno.stdout, encoder.encode(outcome.stdout));
  } catch (error) {
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  }
  Deno.exit(outcome.code);
}

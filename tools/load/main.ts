/**
 * `deno task load`: generated game traffic for a running Herald, driven by its
 * own config. Each request calls one action of a weighted mix with valid random
 * values for the action's request fields, on behalf of one of a set of fake
 * users that each send their own `Host` header, as the seeds did with
 * `ab -n 500 -H "Host: knight1.comcast.com" http://localhost:5000/purchase_a_sword`.
 *
 * ```sh
 * deno task load --mix purchase_a_sword=5,join_guild=2 --users 100 --duration 30s
 * deno task load --rate 2000 --duration 1m --json
 * deno task load --batch 100 --requests 1000
 * ```
 *
 * The API is in `mod.ts`.
 *
 * @module
 */
import { LoadUsageError, parseLoadArgs, USAGE } from "./args.ts";
import { LoadError } from "./options.ts";
import { formatSummary, type LoadSummary, progressPrinter } from "./report.ts";
import { runLoad } from "./run.ts";

async function writeText(out: { write(p: Uint8Array): Promise<number> }, text: string) {
  const bytes = new TextEncoder().encode(text);
  for (let done = 0; done < bytes.length;) done += await out.write(bytes.subarray(done));
}

/** Runs the CLI with `args`; resolves with the exit code. */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseLoadArgs(args);
  } catch (error) {
    if (!(error instanceof LoadUsageError)) throw error;
    await writeText(Deno.stderr, `${error.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (parsed.help) {
    await writeText(Deno.stdout, `${USAGE}\n`);
    return 0;
  }
  const printer = progressPrinter(Deno.stderr.isTerminal());
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  Deno.addSignalListener("SIGINT", onSigint);
  let summary: LoadSummary;
  try {
    summary = await runLoad({
      ...parsed.options(),
      signal: controller.signal,
      onProgress: printer.onProgress,
      progressIntervalMs: printer.intervalMs,
    });
  } catch (error) {
    if (!(error instanceof LoadError)) throw error;
    await writeText(Deno.stderr, `${error.message}\n`);
    return 1;
  } finally {
    printer.finish();
    Deno.removeSignalListener("SIGINT", onSigint);
  }
  try {
    await writeText(
      Deno.stdout,
      parsed.json ? `${JSON.stringify(summary)}\n` : formatSummary(summary),
    );
  } catch (error) {
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));

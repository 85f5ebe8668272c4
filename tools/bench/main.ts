/**
 * `deno task bench`: one command, one run, one machine. It starts every target
 * itself, drives each with the project's own load generator (`tools/load/`)
 * and stops it, then writes `BENCHMARKS.md` and `BENCHMARKS.svg`:
 *
 * - `ceiling`: a bare `Deno.serve` answering a constant string;
 * - `stdout`, `parquet`, `kafka`: Herald with that one sink (stdout to
 *   `/dev/null`, a temp lake, a local broker from `tools/kafka/`);
 * - `batch`: Herald's `POST /events`, 100 events per request, into Kafka;
 * - `seeds`: the seeds' Flask + kafka-python app, on the same broker.
 *
 * Per target: 2xx requests/s and events/s in a closed loop at one concurrency,
 * p50/p99 in an open loop at half of that target's own max rate, peak RSS and
 * CPU of the server process from `/proc`, and the time from spawn to the first
 * 2xx. Missed targets print FAIL but never fail the command.
 *
 * ```sh
 * deno task bench                          # full run, writes BENCHMARKS.md
 * deno task bench --quick                  # smoke run, writes a temp file
 * deno task bench --only ceiling,stdout --duration 5 --out /tmp/b.md
 * ```
 *
 * The API is in `mod.ts`.
 *
 * @module
 */
import { type BenchOptions, BenchUsageError, parseBenchArgs, USAGE } from "./args.ts";
import { formatWall } from "./format.ts";
import { writeReport } from "./output.ts";
import { runBench } from "./run.ts";
import { formatTable } from "./tables.ts";
import { formatVerdict, verdicts } from "./verdicts.ts";

/** Runs the bench with `args`; resolves with the exit code. */
export async function main(args: string[]): Promise<number> {
  let options: BenchOptions;
  try {
    const parsed = parseBenchArgs(args);
    if (parsed === "help") {
      console.log(USAGE);
      return 0;
    }
    options = parsed;
  } catch (error) {
    if (!(error instanceof BenchUsageError)) throw error;
    console.error(`${error.message}\n\n${USAGE}`);
    return 2;
  }
  const run = await runBench(options);
  if (run === null) return 130;
  const { outPath, chartPath, wallS } = await writeReport(run, options, args);

  console.log(formatTable(run.results, options.concurrency));
  console.log("");
  for (const v of verdicts(run.results)) console.log(formatVerdict(v));
  console.log("");
  console.log(
    "Note: the seeds' kafka-python send() is asynchronous (the seeds never waited for acks); " +
      "Herald answers after Kafka acked with acks=all.",
  );
  console.log(`Wrote "${outPath}" and "${chartPath}" in ${formatWall(wallS)}`);
  return run.failed ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));

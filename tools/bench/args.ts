/**
 * The flags of `deno task bench`: the targets it can run, its usage text and
 * the parsing of its flags into {@linkcode BenchOptions}.
 *
 * @module
 */
import { parseArgs } from "node:util";

/** Every target, in the order they run. */
export const TARGET_IDS = [
  "ceiling",
  "stdout",
  "stdout-w2",
  "stdout-live",
  "stdout-viewer",
  "fsync",
  "parquet",
  "kafka",
  "batch",
  "seeds",
] as const;
/** One of {@linkcode TARGET_IDS}. */
export type TargetId = typeof TARGET_IDS[number];

/** Events per request on the batch route. */
export const BATCH_SIZE = 100;

/** The bench's options after parsing flags. */
export interface BenchOptions {
  quick: boolean;
  /** Markdown output path; null means the default for the mode. */
  out: string | null;
  /** Seconds per measurement. */
  durationS: number;
  /** Seconds of warm-up load before each closed-loop measurement. */
  warmupS: number;
  concurrency: number;
  only: TargetId[];
  /** Seconds of the soak at max rate after the Parquet row (0: none). */
  soakS: number;
}

/** The targets a soak runs on. */
export const SOAK_IDS: readonly TargetId[] = ["parquet"];

/** The usage text of `deno task bench`. */
export const USAGE = `Usage: deno task bench [flags]

Starts each target, loads it with tools/load/ (GET /purchase_a_sword, or
POST /events with ${BATCH_SIZE} events for the batch route), stops it, and writes a
table with PASS/FAIL against the targets plus an SVG chart.

  --quick             a few seconds per measurement (CI smoke run); writes to a
                      temp file unless --out is given
  --out <file>        Markdown output (default BENCHMARKS.md at the repo root);
                      the chart goes beside it, same name with .svg
  --duration <s>      seconds per measurement (default 12, quick 3)
  --concurrency <n>   closed-loop connections (default 50)
  --only a,b          targets: ${TARGET_IDS.join(", ")}
  --soak <s>          seconds at max rate after the ${SOAK_IDS.join(", ")} row, with its RSS
                      sampled every 5 s (default 300, quick 0; 0 skips it)
  --help              this text`;

/** A bad flag; the CLI prints it with the usage and exits 2. */
export class BenchUsageError extends Error {
  override name = "BenchUsageError";
}

/** Parses the bench's flags; throws {@linkcode BenchUsageError} on a bad one. */
export function parseBenchArgs(args: string[]): BenchOptions | "help" {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        quick: { type: "boolean", default: false },
        out: { type: "string" },
        duration: { type: "string" },
        concurrency: { type: "string" },
        only: { type: "string" },
        soak: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new BenchUsageError((error as Error).message);
  }
  if (values.help) return "help";
  const quick = values.quick;
  const number = (flag: string, text: string | undefined, fallback: number, integer: boolean) => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (text.trim() === "" || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
      throw new BenchUsageError(
        `Invalid --${flag} "${text}": expected a positive ${integer ? "integer" : "number"}`,
      );
    }
    return n;
  };
  const durationS = number("duration", values.duration, quick ? 3 : 12, false);
  const concurrency = number("concurrency", values.concurrency, 50, true);
  const soakS = values.soak === "0" ? 0 : number("soak", values.soak, quick ? 0 : 300, false);
  let only: TargetId[] = [...TARGET_IDS];
  if (values.only !== undefined) {
    const names = values.only.split(",").map((s) => s.trim()).filter(Boolean);
    for (const name of names) {
      if (!(TARGET_IDS as readonly string[]).includes(name)) {
        throw new BenchUsageError(
          `Unknown target "${name}" in --only (expected some of ${TARGET_IDS.join(", ")})`,
        );
      }
    }
    if (names.length === 0) throw new BenchUsageError("The --only list names no target");
    only = TARGET_IDS.filter((id) => names.includes(id));
  }
  return {
    quick,
    out: values.out ?? null,
    durationS,
    warmupS: quick ? 1 : 3,
    concurrency,
    only,
    soakS,
  };
}

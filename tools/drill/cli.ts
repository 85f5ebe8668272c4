/**
 * The `deno task drill` command line: which drills, how long a load phase,
 * a table or JSON.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { DRILLS, runDrills } from "./drills.ts";
import { formatReport } from "./report.ts";

/** The usage text of `deno task drill`. */
export const USAGE = `Usage: deno task drill [--only name,name] [--seconds N] [--json]

  --only a,b     drills to run (default all): ${Object.keys(DRILLS).join(", ")}
  --seconds N    length of a load phase in seconds (default 6)
  --json         print the results as JSON instead of a table`;

/**
 * Runs the drills `args` ask for and prints their report; resolves with the
 * exit code: 0 every drill that ran passed, 1 one failed, 2 bad arguments.
 */
export async function runDrillCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      only: { type: "string" },
      seconds: { type: "string", default: "6" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.error(USAGE);
    return 0;
  }
  const names = values.only?.split(",").map((s) => s.trim()).filter(Boolean) ??
    Object.keys(DRILLS);
  const unknown = names.filter((n) => !(n in DRILLS));
  const seconds = Number(values.seconds);
  if (unknown.length > 0 || !(seconds > 0)) {
    console.error(unknown.length > 0 ? `Unknown drill: ${unknown.join(", ")}` : "Bad --seconds");
    console.error(USAGE);
    return 2;
  }
  const results = await runDrills(names, { seconds });
  console.log(values.json ? JSON.stringify(results, null, 2) : formatReport(results));
  const bad = results.some((r) => r.notRun === null && !r.ok);
  return bad ? 1 : 0;
}

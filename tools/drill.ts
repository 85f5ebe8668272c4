/**
 * `deno task drill`: fault drills against real processes. Each drill runs
 * Herald (sinks Kafka and Parquet, plus stdout for `sigterm`) under load from
 * concurrent clients, breaks something, repairs it, stops Herald, then checks
 * that every acknowledged request (each carries a unique `oid`) is in Kafka,
 * in the lake (and on stdout) exactly once.
 *
 * ```sh
 * deno task drill                                  # every drill
 * deno task drill --only sigterm,broker-stop --seconds 4
 * deno task drill --json                           # the results as JSON on stdout
 * ```
 *
 * Needs Java 17 and Maven (for the broker, see tools/kafka.ts) and, for the
 * disk-full drills, root on Linux (they mount a tmpfs). Exit code 1 when a
 * drill misses an acknowledged event, stores one twice, fails an assertion,
 * or cannot run under `CI=true`. The cluster drills run a 3-node cluster.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type DrillResult, DRILLS, runDrills } from "./drill/drills.ts";

const USAGE = `Usage: deno task drill [--only name,name] [--seconds N] [--json]

  --only a,b     drills to run (default all): ${Object.keys(DRILLS).join(", ")}
  --seconds N    length of a load phase in seconds (default 6)
  --json         print the results as JSON instead of a table`;

/** The report table of `results`, one line per drill. */
export function formatReport(results: readonly DrillResult[]): string {
  const header = [
    "drill",
    "result",
    "sent",
    "2xx",
    "503/429",
    "other",
    "kafka",
    "lake",
    "stdout",
    "missing",
    "dup",
    "p99 ms",
    "unacked stored",
    "time",
  ];
  const rows = results.map((r) => [
    r.name,
    r.notRun !== null ? "NOT RUN" : r.ok ? "ok" : "FAIL",
    String(r.counts.sent),
    String(r.counts.ok),
    String(r.counts.unavailable),
    String(r.counts.other),
    r.sinks.kafka ? String(r.sinks.kafka.found) : "-",
    r.sinks.lake ? String(r.sinks.lake.found) : "-",
    r.sinks.stdout ? String(r.sinks.stdout.found) : "-",
    String(r.missing),
    String(r.duplicated),
    String(r.p99Ms),
    String(r.unacknowledgedStored),
    `${(r.ms / 1000).toFixed(1)} s`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  const out = [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line), ""];
  for (const r of results) {
    if (r.notRun !== null) out.push(`${r.name}: not run: ${r.notRun}`);
    for (const note of r.notes) out.push(`${r.name}: ${note}`);
    for (const failure of r.failures) out.push(`${r.name}: FAILED: ${failure}`);
  }
  return out.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      only: { type: "string" },
      seconds: { type: "string", default: "6" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.error(USAGE);
    Deno.exit(0);
  }
  const names = values.only?.split(",").map((s) => s.trim()).filter(Boolean) ??
    Object.keys(DRILLS);
  const unknown = names.filter((n) => !(n in DRILLS));
  const seconds = Number(values.seconds);
  if (unknown.length > 0 || !(seconds > 0)) {
    console.error(unknown.length > 0 ? `Unknown drill: ${unknown.join(", ")}` : "Bad --seconds");
    console.error(USAGE);
    Deno.exit(2);
  }
  const results = await runDrills(names, { seconds });
  console.log(values.json ? JSON.stringify(results, null, 2) : formatReport(results));
  const bad = results.some((r) => r.notRun === null && !r.ok);
  Deno.exit(bad ? 1 : 0);
}

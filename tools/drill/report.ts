/**
 * The report of `deno task drill`: one table line per drill, then each
 * drill's notes and failures.
 *
 * @module
 */
import type { DrillResult } from "./types.ts";

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

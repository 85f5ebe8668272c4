/**
 * The bench's Markdown tables and prose, laid out as `deno fmt` would so the
 * report it writes is already formatted: the results table and the CPU table.
 *
 * @module
 */
import { formatCount, formatMs, formatPercent, formatTimes } from "./format.ts";
import { findMeasured as find, type TargetResult, vsCeiling, vsSeeds } from "./results.ts";

/** Markdown's line width in this repo (`fmt.lineWidth` in deno.json). */
export const LINE_WIDTH = 100;

/**
 * Wraps prose at {@linkcode LINE_WIDTH} the way `deno fmt` does: greedy, at
 * spaces outside code spans, `first` before the first line and `rest` before
 * the others.
 */
export function wrapText(text: string, first = "", rest = first, width = LINE_WIDTH): string {
  const words: string[] = [];
  let word = "";
  let code = false;
  for (const char of text) {
    if (char === "`") code = !code;
    if (!code && /\s/.test(char)) {
      if (word !== "") words.push(word);
      word = "";
    } else word += char;
  }
  if (word !== "") words.push(word);
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const word of words) {
    if (!empty && [...line].length + 1 + [...word].length > width) {
      lines.push(line);
      line = rest + word;
    } else {
      line += empty ? word : ` ${word}`;
    }
    empty = false;
  }
  lines.push(line);
  return lines.join("\n");
}

/** Lays out a Markdown table with padded columns, as `deno fmt` would. */
export function markdownTable(header: readonly string[], rows: readonly string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(3, ...all.map((row) => [...(row[i] ?? "")].length)));
  const numeric = header.map((_, i) =>
    rows.length > 0 && rows.every((row) => /^[-\d.,%x— ]*$/.test(row[i] ?? ""))
  );
  const pad = (cell: string, i: number) => {
    const width = widths[i] ?? 0;
    const fill = " ".repeat(Math.max(0, width - [...cell].length));
    return numeric[i] ? fill + cell : cell + fill;
  };
  const line = (row: readonly string[]) =>
    `| ${header.map((_, i) => pad(row[i] ?? "", i)).join(" | ")} |`;
  const rule = `| ${
    widths.map((w, i) => numeric[i] ? "-".repeat(w - 1) + ":" : "-".repeat(w)).join(" | ")
  } |`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}

const DASH = "—";

/** The results table: one row per target, ratios against the ceiling and the seeds. */
export function formatTable(results: readonly TargetResult[], concurrency: number): string {
  const ceiling = find(results, "ceiling");
  const seeds = find(results, "seeds");
  const header = [
    "target",
    `req/s (c=${concurrency})`,
    "events/s",
    "errors",
    "req/s vs ceiling",
    "events/s vs seeds",
    "open-loop rate",
    "p50 ms",
    "p99 ms",
    "tool lag p99 ms",
    "server CPU",
    "peak RSS MB",
    "start to 2xx ms",
  ];
  const rows = results.map((r) => {
    if (r.skipped !== undefined) {
      return [r.label, ...Array(header.length - 1).fill(DASH)] as string[];
    }
    const herald = r.kind === "herald";
    const c = herald ? vsCeiling(r, ceiling) : null;
    const s = herald ? vsSeeds(r, seeds) : null;
    const errors = (r.max?.errors ?? 0) + (r.paced?.errors ?? 0);
    return [
      r.label,
      r.max ? formatCount(r.max.requestsPerS) : DASH,
      r.max?.eventsPerS !== undefined && r.max.eventsPerS !== null
        ? formatCount(r.max.eventsPerS)
        : DASH,
      r.max || r.paced ? formatCount(errors) : DASH,
      c === null ? DASH : formatPercent(c),
      s === null ? DASH : formatTimes(s),
      r.paced ? formatCount(r.paced.rate) : DASH,
      r.paced ? formatMs(r.paced.p50Ms) : DASH,
      r.paced ? formatMs(r.paced.p99Ms) : DASH,
      r.paced?.sendLagP99Ms != null ? formatMs(r.paced.sendLagP99Ms) : DASH,
      r.cpuPercent === undefined ? DASH : `${Math.round(r.cpuPercent)}%`,
      r.rssPeakMb === undefined ? DASH : Math.round(r.rssPeakMb).toString(),
      r.startMs === undefined ? DASH : Math.round(r.startMs).toString(),
    ];
  });
  return markdownTable(header, rows);
}

/**
 * Where the CPU goes: per target, CPU microseconds per event of the server,
 * the broker and the load tool, their sum, and the rate that sum allows on
 * `cores` cores if nothing else ran (`cores * 10^6 / sum`).
 */
export function formatCpuTable(results: readonly TargetResult[], cores: number): string {
  const header = [
    "target",
    "server µs/event",
    "broker µs/event",
    "load tool µs/event",
    "sum µs/event",
    `events/s the sum allows on ${cores} cores`,
  ];
  const us = (n: number | undefined) => n === undefined ? DASH : n.toFixed(1);
  const rows = results.filter((r) => r.skipped === undefined && r.cpuUs).map((r) => {
    const parts = [r.cpuUs!.server, r.cpuUs!.broker, r.cpuUs!.load];
    const sum = parts.reduce<number>((a, b) => a + (b ?? 0), 0);
    return [
      r.label,
      us(parts[0]),
      us(parts[1]),
      us(parts[2]),
      us(sum),
      sum > 0 ? formatCount((cores * 1e6) / sum) : DASH,
    ];
  });
  return markdownTable(header, rows);
}

/**
 * Flushes per target, from each server's `/metrics`: how often its sink
 * flushed during the closed loop (an fsync for the log and the fsync
 * ceiling, a write for stdout, a Produce request for Kafka) and how many
 * events each carried; the Parquet row's req/s against the fsync ceiling's.
 */
export function formatFlushTable(results: readonly TargetResult[]): string {
  const fsync = find(results, "fsync");
  const rows = results.filter((r) => r.skipped === undefined && r.flushes).map((r) => {
    const share = r.id === "parquet" ? vsCeiling(r, fsync) : null;
    return [
      r.label,
      r.max ? formatCount(r.max.requestsPerS) : DASH,
      formatCount(r.flushes!.perS),
      r.flushes!.eventsPerFlush.toFixed(1),
      share === null ? DASH : formatPercent(share),
    ];
  });
  return markdownTable(
    ["target", "req/s", "flushes/s", "events per flush", "req/s vs fsync ceiling"],
    rows,
  );
}

/** The soak rows: RSS before load, at the soak's start, peak, end, and each minute's highest. */
export function formatSoakTable(results: readonly TargetResult[]): string {
  const rows = results.filter((r) => r.soak).map((r) => {
    const s = r.soak!;
    const mb = (n: number | undefined) => n === undefined ? DASH : Math.round(n).toString();
    return [
      r.label,
      formatWallMinutes(s.durationS),
      formatCount(s.requestsPerS),
      formatCount(s.errors),
      mb(r.rssIdleMb),
      mb(s.startMb),
      mb(s.peakMb),
      mb(s.endMb),
      s.perMinuteMb.map((n) => Math.round(n)).join(", "),
    ];
  });
  return markdownTable([
    "target",
    "soak",
    "req/s",
    "errors",
    "RSS before load MB",
    "RSS at start MB",
    "peak MB",
    "end MB",
    "highest RSS per minute MB",
  ], rows);
}

function formatWallMinutes(seconds: number): string {
  return seconds >= 60 ? `${(seconds / 60).toFixed(1)} min` : `${Math.round(seconds)} s`;
}

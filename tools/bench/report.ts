/**
 * The bench's pure pieces: result types, ratios, PASS/FAIL verdicts against
 * the issue's targets, the Markdown report and the chart. Nothing here starts
 * a process or touches the network.
 *
 * @module
 */
import { Canvas, type Rgb, textWidth } from "./png.ts";

/** What kind of server a target is. */
export type TargetKind = "ceiling" | "herald" | "seeds";

/** One load run against one target. */
export interface Measurement {
  /** Requests answered 2xx, per second. */
  requestsPerS: number;
  /** Events accepted per second, or null when the target makes no events (the ceiling). */
  eventsPerS: number | null;
  /** Requests sent, whatever their answer. */
  requests: number;
  /** Non-2xx answers plus transport errors. */
  errors: number;
  /** Measured time in seconds. */
  durationS: number;
  /** Median latency in milliseconds. */
  p50Ms: number;
  /** 99th percentile latency in milliseconds. */
  p99Ms: number;
}

/** An open-loop run: a {@linkcode Measurement} at a fixed request rate. */
export interface PacedMeasurement extends Measurement {
  /** Requests per second the load tool aimed at. */
  rate: number;
}

/** Everything measured for one target. */
export interface TargetResult {
  /** The `--only` name, e.g. `"kafka"`. */
  id: string;
  /** Human name, e.g. `"Herald, Kafka sink"`. */
  label: string;
  kind: TargetKind;
  /** Events carried by one request (100 for the batch route, else 1). */
  eventsPerRequest: number;
  /** Closed loop at the bench's concurrency: the target's max rate. */
  max?: Measurement;
  /** Open loop at half of this target's own max rate. */
  paced?: PacedMeasurement;
  /** Peak resident set of the server process in MB (VmHWM, MB = 10^6 bytes). */
  rssPeakMb?: number;
  /** Milliseconds from spawning the process to its first 2xx answer. */
  startMs?: number;
  /** CPU time of the server process during the closed loop, as % of one core. */
  cpuPercent?: number;
  /**
   * CPU microseconds per event (per request for the ceiling) during the closed
   * loop, for each process on the path; `broker` only for targets that use it.
   */
  cpuUs?: { server?: number; broker?: number; load?: number };
  /** Why the target was not measured, when it was not. */
  skipped?: string;
}

/** A target of the issue, checked against the results. */
export interface Verdict {
  /** What is checked, e.g. `"stdout sink >= 60% of ceiling req/s"`. */
  name: string;
  /** What was measured, in words; the reason when not measured. */
  actual: string;
  /** True for PASS, false for FAIL, null when it could not be measured (SKIP). */
  pass: boolean | null;
}

/** Facts about the machine and the run, printed above the table. */
export interface RunFacts {
  cores: number;
  /** CPU model, when known. */
  cpu?: string;
  /** `/proc/loadavg` (1, 5, 15 min) when the run began: other work on the machine. */
  loadAverage?: string;
  deno: string;
  kernel: string;
  /** ISO 8601 date of the run. */
  date: string;
  /** The exact command line. */
  command: string;
  /** Which load generator ran, in words. */
  loadTool: string;
  concurrency: number;
  durationS: number;
  warmupS: number;
  /** Wall time of the whole run in seconds. */
  wallS: number;
  quick: boolean;
  /** Notices shown under the table (skipped rows, substitutions). */
  notices: string[];
}

/** The issue's targets. */
export const THRESHOLDS = {
  /** Herald with the stdout sink, as a share of the ceiling's req/s. */
  stdoutVsCeiling: 0.6,
  /** Herald with the Kafka sink, as a share of the ceiling's req/s. */
  kafkaVsCeiling: 0.4,
  /** Herald with the Kafka sink, as a multiple of the seeds' events/s. */
  kafkaVsSeeds: 30,
  /** The batch route into Kafka, events/s. */
  batchEventsPerS: 200_000,
  /** p99 at half the max rate with the Kafka sink, ms. */
  kafkaP99Ms: 10,
  /** Peak RSS of a Herald process at max rate, MB. */
  rssMb: 150,
  /** Process start to first 2xx, ms. */
  startMs: 500,
} as const;

/** `a / b`, or null when either is missing or `b` is not positive. */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined || !(b > 0)) return null;
  return a / b;
}

/** Herald's req/s over the ceiling's req/s. */
export function vsCeiling(row: TargetResult, ceiling: TargetResult | undefined): number | null {
  return ratio(row.max?.requestsPerS, ceiling?.max?.requestsPerS);
}

/** Herald's events/s over the seeds' events/s (the seeds make one event per request). */
export function vsSeeds(row: TargetResult, seeds: TargetResult | undefined): number | null {
  return ratio(row.max?.eventsPerS, seeds?.max?.eventsPerS ?? seeds?.max?.requestsPerS);
}

/** An integer with thousands separators: `15670.4` -> `"15,670"`. */
export function formatCount(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** Milliseconds with a precision that suits their size. */
export function formatMs(ms: number): string {
  if (ms >= 100) return Math.round(ms).toString();
  if (ms >= 10) return ms.toFixed(1);
  return ms.toFixed(2);
}

/** A share as a percentage: `0.374` -> `"37%"`. */
export function formatPercent(r: number): string {
  return `${Math.round(r * 100)}%`;
}

/** A multiple: `11.04` -> `"11.0x"`; large ones without decimals. */
export function formatTimes(r: number): string {
  return r >= 100 ? `${Math.round(r)}x` : `${r.toFixed(1)}x`;
}

function find(results: readonly TargetResult[], id: string): TargetResult | undefined {
  return results.find((r) => r.id === id && r.skipped === undefined);
}

function check(
  name: string,
  measured: boolean,
  why: string,
  pass: () => boolean,
  actual: () => string,
): Verdict {
  if (!measured) return { name, actual: why, pass: null };
  return { name, actual: actual(), pass: pass() };
}

/** Checks every issue target that concerns the given results; unmeasured ones are SKIP. */
export function verdicts(results: readonly TargetResult[]): Verdict[] {
  const ceiling = find(results, "ceiling");
  const stdout = find(results, "stdout");
  const kafka = find(results, "kafka");
  const batch = find(results, "batch");
  const seeds = find(results, "seeds");
  const t = THRESHOLDS;
  const notRun = (...ids: [string, TargetResult | undefined][]) =>
    `not measured (${ids.filter(([, r]) => r?.max === undefined).map(([id]) => id).join(", ")})`;
  const out: Verdict[] = [];

  const stdoutRatio = stdout && vsCeiling(stdout, ceiling);
  out.push(check(
    `stdout sink >= ${formatPercent(t.stdoutVsCeiling)} of ceiling req/s`,
    stdoutRatio !== null && stdoutRatio !== undefined,
    notRun(["ceiling", ceiling], ["stdout", stdout]),
    () => stdoutRatio! >= t.stdoutVsCeiling,
    () =>
      `${formatPercent(stdoutRatio!)} (${formatCount(stdout!.max!.requestsPerS)} vs ` +
      `${formatCount(ceiling!.max!.requestsPerS)} req/s)`,
  ));

  const kafkaRatio = kafka && vsCeiling(kafka, ceiling);
  out.push(check(
    `Kafka sink >= ${formatPercent(t.kafkaVsCeiling)} of ceiling req/s`,
    kafkaRatio !== null && kafkaRatio !== undefined,
    notRun(["ceiling", ceiling], ["kafka", kafka]),
    () => kafkaRatio! >= t.kafkaVsCeiling,
    () =>
      `${formatPercent(kafkaRatio!)} (${formatCount(kafka!.max!.requestsPerS)} vs ` +
      `${formatCount(ceiling!.max!.requestsPerS)} req/s)`,
  ));

  const seedsRatio = kafka && vsSeeds(kafka, seeds);
  out.push(check(
    `Kafka sink >= ${t.kafkaVsSeeds}x seeds events/s`,
    seedsRatio !== null && seedsRatio !== undefined,
    notRun(["kafka", kafka], ["seeds", seeds]),
    () => seedsRatio! >= t.kafkaVsSeeds,
    () =>
      `${formatTimes(seedsRatio!)} (${formatCount(kafka!.max!.eventsPerS ?? 0)} vs ` +
      `${formatCount(seeds!.max!.eventsPerS ?? seeds!.max!.requestsPerS)} events/s)`,
  ));

  out.push(check(
    `batch route -> Kafka >= ${formatCount(t.batchEventsPerS)} events/s`,
    batch?.max?.eventsPerS !== undefined && batch.max.eventsPerS !== null,
    notRun(["batch", batch]),
    () => batch!.max!.eventsPerS! >= t.batchEventsPerS,
    () =>
      `${formatCount(batch!.max!.eventsPerS!)} events/s (${
        formatCount(batch!.max!.requestsPerS)
      } req/s of ${batch!.eventsPerRequest})`,
  ));

  out.push(check(
    `p99 at half max rate <= ${t.kafkaP99Ms} ms with the Kafka sink`,
    kafka?.paced !== undefined,
    kafka ? "not measured (open loop did not run)" : notRun(["kafka", kafka]),
    () => kafka!.paced!.p99Ms <= t.kafkaP99Ms,
    () => `${formatMs(kafka!.paced!.p99Ms)} ms at ${formatCount(kafka!.paced!.rate)} req/s`,
  ));

  for (const row of results.filter((r) => r.kind === "herald")) {
    out.push(check(
      `${row.label}: server RSS at max rate <= ${t.rssMb} MB`,
      row.rssPeakMb !== undefined,
      row.skipped ?? "not measured",
      () => row.rssPeakMb! <= t.rssMb,
      () => `${Math.round(row.rssPeakMb!)} MB peak over the whole load`,
    ));
  }
  for (const row of results.filter((r) => r.kind === "herald")) {
    out.push(check(
      `${row.label}: process start to first 2xx <= ${t.startMs} ms`,
      row.startMs !== undefined,
      row.skipped ?? "not measured",
      () => row.startMs! <= t.startMs,
      () => `${Math.round(row.startMs!)} ms`,
    ));
  }
  return out;
}

/** `PASS`, `FAIL` or `SKIP` followed by the check and what was measured (bold word in Markdown). */
export function formatVerdict(v: Verdict, markdown = false): string {
  const word = v.pass === null ? "SKIP" : v.pass ? "PASS" : "FAIL";
  return markdown ? `**${word}** ${v.name}: ${v.actual}` : `${word}  ${v.name}: ${v.actual}`;
}

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

/** Minutes and seconds: `312` -> `"5 min 12 s"`. */
export function formatWall(seconds: number): string {
  const s = Math.round(seconds);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** The whole BENCHMARKS.md text; `chartPath` is relative to the Markdown file. */
export function renderMarkdown(
  results: readonly TargetResult[],
  facts: RunFacts,
  chartPath: string,
): string {
  const machine = markdownTable(["fact", "value"], [
    ["cores (`nproc`)", String(facts.cores)],
    ...(facts.cpu === undefined ? [] : [["CPU", facts.cpu]]),
    ...(facts.loadAverage === undefined
      ? []
      : [["load average at start", `${facts.loadAverage} (1, 5, 15 min)`]]),
    ["Deno", facts.deno],
    ["kernel", facts.kernel],
    ["date", facts.date],
    ["command", `\`${facts.command}\``],
    ["load tool", facts.loadTool],
    [
      "closed loop",
      `${facts.concurrency} connections, ${facts.durationS} s per target after a ${facts.warmupS} s warm-up`,
    ],
    ["open loop", `fixed rate at half of each target's own max req/s, ${facts.durationS} s`],
    ["wall time", `${formatWall(facts.wallS)}${facts.quick ? " (`--quick`)" : ""}`],
  ]);
  const bullet = (text: string) => wrapText(text, "- ", "  ");
  const lines = [
    "# Benchmarks",
    "",
    wrapText(
      "Written by `deno task bench` (`tools/bench.ts`). One command, one run, one machine: it " +
        "starts every server and the Kafka broker itself, drives each with the same load tool and " +
        "the same request (`GET /purchase_a_sword`, or `POST /events` for the batch route), and " +
        "stops them.",
    ),
    "",
    machine,
    "",
    "## Results",
    "",
    formatTable(results, facts.concurrency),
    "",
    bullet(
      `**req/s** and **events/s**: 2xx answers per second with ${facts.concurrency} connections ` +
        "in a closed loop (each sends its next request when the previous one is answered): the " +
        "max rate.",
    ),
    bullet(
      "**req/s vs ceiling**: Herald's req/s over the bare `Deno.serve` ceiling's. **events/s vs " +
        "seeds**: Herald's events/s over the seeds' Flask app (one event per request).",
    ),
    bullet(
      "**p50/p99**: latency in an open loop (requests sent at a fixed rate whatever the answers, " +
        "timed from when each was due) at half of that target's own max req/s.",
    ),
    bullet(
      "**server CPU**: CPU time of the server process during the closed loop, as a share of one " +
        "core (from `/proc/<pid>/stat`); near 100% means a single-threaded server was the " +
        "bottleneck, well below it means the load tool or the sink's I/O was.",
    ),
    bullet(
      "**peak RSS**: the highest `VmHWM` or `VmRSS` of the server process from " +
        "`/proc/<pid>/status`, polled every 100 ms through the warm-up, max-rate and open-loop " +
        "runs (MB = 10^6 bytes). Herald is spawned as `deno run ... main.ts`, so this is the " +
        "server itself, not a `deno task` wrapper.",
    ),
    bullet(
      "**start to 2xx**: from spawning the process to its first 200 on `GET /`, polled every 5 ms.",
    ),
    "",
    "## Where the CPU goes",
    "",
    formatCpuTable(results, facts.cores),
    "",
    bullet(
      "CPU time (user + system, from `/proc/<pid>/stat`) of each process on the request path " +
        "during the closed loop, divided by the events it carried (requests for the ceiling). " +
        "The load tool runs inside the bench's own process. The last column is the most the " +
        "machine could do if those processes had every core to themselves: a row whose target " +
        "lies above it cannot be met by tuning the server alone.",
    ),
    "",
    "## Targets",
    "",
    ...verdicts(results).map((v) => bullet(formatVerdict(v, true))),
    "",
    `![Throughput and p99 latency per target](${chartPath})`,
    "",
    "## Fairness notes",
    "",
    bullet(
      "Herald answers only once every sink has the event: the stdout sink has written the line " +
        "(to `/dev/null` here), the Parquet sink has it in an fsynced write-ahead log (in a temp " +
        "lake), and Kafka has acked it with `acks=all`.",
    ),
    bullet(
      "The seeds' app calls kafka-python's `producer.send()`, which is asynchronous: it answers " +
        "before Kafka has the event, and the seeds never waited for acks. Its events/s counts " +
        "answers, not acked events. It runs on Flask's builtin threaded server (the `flask run` " +
        "equivalent), with Flask's access log on stderr, as the seeds ran it.",
    ),
    bullet(
      `The load tool, the server and (for Kafka rows) the broker share this machine's ` +
        `${facts.cores} cores, so absolute numbers are lower than on a dedicated server; ratios ` +
        "between rows measured in the same run are the meaningful part. Open-loop latency at high " +
        "rates includes the load tool's own scheduling delay, as it paces requests with timers " +
        "on a shared core.",
    ),
    ...(facts.notices.length === 0 ? [] : ["", "## Run notes", "", ...facts.notices.map(bullet)]),
    "",
  ];
  return lines.join("\n");
}

const INK: Rgb = [34, 34, 34];
const MUTED: Rgb = [110, 110, 110];
const RULE: Rgb = [200, 200, 200];
const TARGET: Rgb = [214, 39, 40];
const COLORS: Record<TargetKind, Rgb> = {
  ceiling: [150, 150, 150],
  herald: [47, 111, 181],
  seeds: [224, 123, 57],
};

/**
 * Draws two horizontal bar panels: max throughput per target (req/s, with
 * events/s in the label) and p99 latency at half max rate, with the 10 ms
 * target as a red line.
 */
export function renderChart(results: readonly TargetResult[], title: string): Canvas {
  const rows = results.filter((r) => r.skipped === undefined);
  const width = 1200;
  const scale = 2;
  const line = 7 * scale;
  const barHeight = 24;
  const rowGap = 12;
  const labelWidth = Math.max(
    180,
    ...rows.map((r) => textWidth(r.label, scale) + 20),
  );
  const left = 20 + labelWidth;
  const valueRoom = 420;
  const barMax = width - left - valueRoom - 20;
  const panelHeight = (n: number) => 40 + n * (barHeight + rowGap);
  const height = 60 + 2 * panelHeight(Math.max(rows.length, 1)) + 30;
  const canvas = new Canvas(width, height);
  canvas.text(20, 20, title, INK, scale);

  const panel = (
    top: number,
    heading: string,
    value: (r: TargetResult) => number | undefined,
    caption: (r: TargetResult) => string,
    target?: number,
  ) => {
    canvas.text(20, top, heading, INK, scale);
    const values = rows.map(value).filter((v): v is number => v !== undefined);
    const max = Math.max(...values, target ?? 0, 1e-9) * 1.05;
    const first = top + 30;
    const last = first + rows.length * (barHeight + rowGap) - rowGap;
    canvas.fillRect(left - 1, first - 4, 2, last - first + 8, RULE);
    rows.forEach((r, i) => {
      const y = first + i * (barHeight + rowGap);
      canvas.text(20, y + (barHeight - line) / 2, r.label, INK, scale);
      const v = value(r);
      if (v === undefined) {
        canvas.text(left + 8, y + (barHeight - line) / 2, "not measured", MUTED, scale);
        return;
      }
      const w = Math.max(1, (v / max) * barMax);
      canvas.fillRect(left, y, w, barHeight, COLORS[r.kind]);
      canvas.text(left + w + 8, y + (barHeight - line) / 2, caption(r), INK, scale);
    });
    if (target !== undefined) {
      const x = left + (target / max) * barMax;
      for (let y = first - 8; y < last + 8; y += 8) canvas.fillRect(x - 1, y, 2, 5, TARGET);
      canvas.text(x + 4, last + 6, `${target} MS TARGET`, TARGET, 1);
    }
  };

  const top1 = 60;
  panel(
    top1,
    "MAX THROUGHPUT, CLOSED LOOP (REQ/S)",
    (r) => r.max?.requestsPerS,
    (r) => {
      const req = `${formatCount(r.max!.requestsPerS)} REQ/S`;
      return r.eventsPerRequest > 1 && r.max!.eventsPerS !== null
        ? `${req} = ${formatCount(r.max!.eventsPerS)} EVENTS/S`
        : req;
    },
  );
  const top2 = top1 + panelHeight(rows.length) + 10;
  panel(
    top2,
    "P99 LATENCY AT HALF MAX RATE, OPEN LOOP (MS)",
    (r) => r.paced?.p99Ms,
    (r) => `P99 ${formatMs(r.paced!.p99Ms)} MS AT ${formatCount(r.paced!.rate)}/S`,
    THRESHOLDS.kafkaP99Ms,
  );
  return canvas;
}

/**
 * PASS/FAIL verdicts of the results against the targets; a target
 * that could not be measured is SKIP.
 *
 * @module
 */
import { formatCount, formatMs, formatPercent, formatTimes } from "./format.ts";
import {
  findMeasured as find,
  ratio,
  type TargetResult,
  THRESHOLDS,
  vsCeiling,
  vsSeeds,
} from "./results.ts";

/** A target of the issue, checked against the results. */
export interface Verdict {
  /** What is checked, e.g. `"stdout sink >= 60% of ceiling req/s"`. */
  name: string;
  /** What was measured, in words; the reason when not measured. */
  actual: string;
  /** True for PASS, false for FAIL, null when it could not be measured (SKIP). */
  pass: boolean | null;
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
  const fsync = find(results, "fsync");
  const parquet = find(results, "parquet");
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

  const parquetRatio = parquet && vsCeiling(parquet, fsync);
  out.push(check(
    `Parquet sink >= ${formatPercent(t.parquetVsFsync)} of fsync ceiling req/s`,
    parquetRatio !== null && parquetRatio !== undefined,
    notRun(["fsync", fsync], ["parquet", parquet]),
    () => parquetRatio! >= t.parquetVsFsync,
    () =>
      `${formatPercent(parquetRatio!)} (${formatCount(parquet!.max!.requestsPerS)} vs ` +
      `${formatCount(fsync!.max!.requestsPerS)} req/s)`,
  ));

  const workers2 = find(results, "stdout-w2");
  const workersRatio = ratio(workers2?.max?.requestsPerS, stdout?.max?.requestsPerS);
  out.push(check(
    "stdout sink with --workers 2 > --workers 1 req/s",
    workersRatio !== null,
    notRun(["stdout", stdout], ["stdout-w2", workers2]),
    () => workersRatio! > 1,
    () =>
      `${workersRatio!.toFixed(2)}x (${formatCount(workers2!.max!.requestsPerS)} vs ` +
      `${formatCount(stdout!.max!.requestsPerS)} req/s, the load tool on the same cores)`,
  ));

  const live = find(results, "stdout-live");
  const liveRatio = ratio(live?.max?.requestsPerS, stdout?.max?.requestsPerS);
  out.push(check(
    `stdout sink with --live, no viewer >= ${formatPercent(t.liveVsStdout)} of stdout req/s`,
    liveRatio !== null,
    notRun(["stdout", stdout], ["stdout-live", live]),
    () => liveRatio! >= t.liveVsStdout,
    () =>
      `${formatPercent(liveRatio!)} (${formatCount(live!.max!.requestsPerS)} vs ` +
      `${formatCount(stdout!.max!.requestsPerS)} req/s)`,
  ));
  const viewer = find(results, "stdout-viewer");
  const viewerRatio = ratio(viewer?.max?.requestsPerS, stdout?.max?.requestsPerS);
  out.push(check(
    `stdout sink with --live and 1 viewer >= ${formatPercent(t.viewerVsStdout)} of stdout req/s`,
    viewerRatio !== null,
    notRun(["stdout", stdout], ["stdout-viewer", viewer]),
    () => viewerRatio! >= t.viewerVsStdout,
    () =>
      `${formatPercent(viewerRatio!)} (${formatCount(viewer!.max!.requestsPerS)} vs ` +
      `${formatCount(stdout!.max!.requestsPerS)} req/s)`,
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

  const p99 = (id: string, row: TargetResult | undefined, label: string, limitMs: number) =>
    check(
      `p99 at half max rate <= ${limitMs} ms with the ${label}`,
      row?.paced !== undefined,
      row ? "not measured (open loop did not run)" : notRun([id, row]),
      () => row!.paced!.p99Ms <= limitMs,
      () => `${formatMs(row!.paced!.p99Ms)} ms at ${formatCount(row!.paced!.rate)} req/s`,
    );
  out.push(p99("stdout", stdout, "stdout sink", t.localP99Ms));
  out.push(p99("parquet", parquet, "Parquet sink", t.localP99Ms));
  out.push(p99("kafka", kafka, "Kafka sink", t.kafkaP99Ms));

  for (const row of results.filter((r) => r.kind === "herald")) {
    out.push(check(
      `${row.label}: server RSS at max rate <= ${t.rssMb} MB`,
      row.rssPeakMb !== undefined,
      row.skipped ?? "not measured",
      () => row.rssPeakMb! <= t.rssMb,
      () => `${Math.round(row.rssPeakMb!)} MB peak over the whole load`,
    ));
  }
  for (const row of results.filter((r) => r.soak)) {
    const s = row.soak!;
    out.push(check(
      `${row.label}: RSS <= ${t.rssMb} MB and flat (end within ${
        formatPercent(t.soakGrowth)
      } of start) over a ${formatCount(s.durationS)} s soak`,
      true,
      "",
      () => s.peakMb <= t.rssMb && s.endMb <= s.startMb * (1 + t.soakGrowth),
      () =>
        `start ${Math.round(s.startMb)}, peak ${Math.round(s.peakMb)}, end ${
          Math.round(s.endMb)
        } MB`,
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

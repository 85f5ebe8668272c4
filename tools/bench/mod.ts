/**
 * The bench as a library: its flags, the results' types, the verdicts, and
 * the Markdown and SVG it writes. The CLI, `deno task bench`, is `main.ts`.
 *
 * @module
 */
export {
  BATCH_SIZE,
  type BenchOptions,
  BenchUsageError,
  parseBenchArgs,
  SOAK_IDS,
  TARGET_IDS,
  type TargetId,
  USAGE,
} from "./args.ts";
export { COLORS, escapeXml, renderChart } from "./chart.ts";
export { type FlushCounts, flushMetrics, serveFsyncCeiling } from "./fsync_ceiling.ts";
export { readFlushes } from "./measure.ts";
export { type SoakMeasurement } from "./soak.ts";
export { formatCount, formatMs, formatPercent, formatTimes, formatWall } from "./format.ts";
export { renderMarkdown } from "./markdown.ts";
export {
  findMeasured,
  type Measurement,
  type PacedMeasurement,
  ratio,
  type RunFacts,
  type TargetKind,
  type TargetResult,
  THRESHOLDS,
  vsCeiling,
  vsSeeds,
} from "./results.ts";
export { type BenchRun, runBench } from "./run.ts";
export {
  formatCpuTable,
  formatFlushTable,
  formatSoakTable,
  formatTable,
  LINE_WIDTH,
  markdownTable,
  wrapText,
} from "./tables.ts";
export { formatVerdict, type Verdict, verdicts } from "./verdicts.ts";

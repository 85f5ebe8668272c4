/**
 * The load tool as a library: {@linkcode runLoad} drives a running Herald with
 * generated game traffic and resolves with a {@linkcode LoadSummary}.
 *
 * ```ts
 * import { formatSummary, runLoad } from "../tools/load/mod.ts";
 *
 * const summary = await runLoad({
 *   url: "http://127.0.0.1:5000",
 *   config: "config/gateway.yaml",
 *   mix: { purchase_a_sword: 5, join_guild: 2 },
 *   concurrency: 50,
 *   durationMs: 10_000,
 * });
 * console.log(formatSummary(summary));
 * ```
 *
 * The CLI, `deno task load`, is `main.ts`.
 *
 * @module
 */
export { type LoadArgs, LoadUsageError, parseLoadArgs, USAGE } from "./args.ts";
export { ActionGenerator, OMIT_PROBABILITY, RequestBuilder, userHosts } from "./generate.ts";
export { LatencyRecorder } from "./latency.ts";
export {
  DEFAULT_CONFIG,
  DEFAULT_DURATION_MS,
  DEFAULT_URL,
  LoadError,
  type LoadOptions,
  type LoadPlan,
  type LoadProgress,
  type MixEntry,
  parseDuration,
  parseMix,
  planLoad,
  type Target,
} from "./options.ts";
export { formatSummary, type LoadSummary, progressPrinter } from "./report.ts";
export { runLoad } from "./run.ts";

/**
 * The bench's results: what is measured per target, the facts of a run, the
 * issue's targets, and the ratios between rows. Nothing here starts a process
 * or touches the network.
 *
 * @module
 */

import type { SoakMeasurement } from "./soak.ts";

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
  /** Open loop: the 99th percentile of the load tool's own delay in sending (part of `p99Ms`); else null. */
  sendLagP99Ms: number | null;
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
  /**
   * Flushes of the target's sink during the closed loop, from `/metrics`
   * (`herald_sink_flush_events`): per second, and events each carried.
   */
  flushes?: { perS: number; eventsPerFlush: number };
  /** RSS of the server in MB right after it first answered, before any load. */
  rssIdleMb?: number;
  /** Minutes at max rate with RSS sampled, when the bench's `--soak` ran on this target. */
  soak?: SoakMeasurement;
  /** Why the target was not measured, when it was not. */
  skipped?: string;
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

/** The targets. */
export const THRESHOLDS = {
  /** Herald with the stdout sink, as a share of the ceiling's req/s. */
  stdoutVsCeiling: 0.6,
  /** Herald with the Kafka sink, as a share of the ceiling's req/s. */
  kafkaVsCeiling: 0.4,
  /** Herald with --live and no viewer, as a share of the stdout row: within noise. */
  liveVsStdout: 0.95,
  /** Herald with --live and one viewer reading, as a share of the stdout row. */
  viewerVsStdout: 0.9,
  /** Herald with the Kafka sink, as a multiple of the seeds' events/s. */
  kafkaVsSeeds: 30,
  /** The batch route into Kafka, events/s. */
  batchEventsPerS: 200_000,
  /** p99 at half the max rate with the Kafka sink, ms. */
  kafkaP99Ms: 10,
  /** p99 at half the max rate with the stdout and Parquet sinks, ms. */
  localP99Ms: 10,
  /** Herald with the Parquet sink, as a share of the fsync ceiling's req/s. */
  parquetVsFsync: 0.8,
  /** Peak RSS of a Herald process at max rate, MB. */
  rssMb: 150,
  /** How much RSS may grow from a soak's start to its end, as a share of the start. */
  soakGrowth: 0.1,
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

/** The measured row of target `id`, if it ran. */
export function findMeasured(
  results: readonly TargetResult[],
  id: string,
): TargetResult | undefined {
  return results.find((r) => r.id === id && r.skipped === undefined);
}

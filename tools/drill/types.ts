/**
 * What a drill is: a function of a {@linkcode DrillContext} (the shared
 * broker and cluster, the length of a load phase) to a {@linkcode DrillResult}.
 *
 * @module
 */
import type { KafkaBroker, KafkaCluster } from "../kafka/mod.ts";
import type { LoadCounts } from "./load.ts";
import type { SinkCheck } from "./oracle.ts";

/** The broker the drills share; a drill that restarts it replaces `current`. */
export interface SharedBroker {
  current: KafkaBroker;
}

/** What every drill gets. */
export interface DrillContext {
  /** Length of a load phase, in seconds (the drills scale their phases from it). */
  seconds: number;
  /** The shared broker, started on first use. */
  broker(): Promise<SharedBroker>;
  /** The shared 3-node cluster, started on first use. */
  cluster(): Promise<KafkaCluster>;
  /** Progress lines (stderr in the task). */
  log(message: string): void;
}

/** One drill's outcome. */
export interface DrillResult {
  name: string;
  /** Null when the drill ran; otherwise why it could not run here (never a pass). */
  notRun: string | null;
  counts: LoadCounts;
  /** Per sink checked: "kafka", "lake", "stdout". */
  sinks: Record<string, SinkCheck>;
  /** Obligations missing from at least one sink. */
  missing: number;
  /** Obligations stored twice in some sink. */
  duplicated: number;
  /** 99th percentile of the answers' latency, in ms. */
  p99Ms: number;
  /** Oids stored in some sink although the client got no 2xx (allowed: at-least-once). */
  unacknowledgedStored: number;
  /** Failed assertions, each a sentence. */
  failures: string[];
  /** Drill-specific measurements. */
  notes: string[];
  ok: boolean;
  ms: number;
}

/** A drill. */
export type Drill = (ctx: DrillContext) => Promise<DrillResult>;

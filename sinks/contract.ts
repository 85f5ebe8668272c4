/**
 * The sink contract: what every sink implements and what the rest of Herald
 * may rely on. It imports nothing from the sinks themselves, so routes, ops
 * and the lander depend on this file rather than on any implementation.
 *
 * @module
 */
import type { Logger } from "pino";
import type { FieldValue } from "../config/fields.ts";
import type { ConfigSection, GatewayConfig } from "../config/mod.ts";

/** One flat event: one key per column. */
export type Event = Record<string, FieldValue | null>;

/** A sink's answer to a health check. */
export interface Health {
  ok: boolean;
  detail?: string;
}

/** How full a sink's queue is; at `limit` the sink answers 503. */
export interface SinkLoad {
  queued: number;
  limit: number;
  unit: "events" | "bytes";
}

/** A running sink. */
export interface Sink {
  readonly name: string;
  /** Resolves once the events are durable for this sink; rejects with `SinkUnavailableError` otherwise. */
  write(events: readonly Event[]): Promise<void>;
  /** Flushes everything still pending and releases resources. */
  close(): Promise<void>;
  health(): Promise<Health>;
  /** The fullest of the sink's queues, read by /readyz and /metrics. */
  load?(): SinkLoad;
  /**
   * Adopts a reloaded config (new actions, tables, topics). Resolves once
   * events of the new config can be written; the sink's own options are not reloaded.
   */
  reconfigure?(config: GatewayConfig): Promise<void>;
}

/** What a sink reports besides its queue, which is read at scrape time. */
export interface SinkMetrics {
  /**
   * One flush (a Produce request, a log write and fsync, a stdout write)
   * carried `events` events to the backend in `seconds`.
   */
  flushed(sink: string, events: number, seconds: number): void;
  /** A write to the sink's backend failed; `kind` names what failed. */
  error(sink: string, kind: string): void;
  /** A data file was written (the Parquet sink's files). */
  fileWritten(sink: string): void;
}

/** Reports nothing: for sinks made outside a running Herald (tests, the lander). */
export const NO_SINK_METRICS: SinkMetrics = {
  flushed() {},
  error() {},
  fileWritten() {},
};

/** What a sink factory gets besides its own options. */
export interface SinkContext {
  config: GatewayConfig;
  logger: Logger;
  /** Where flushes, errors and files are counted (default: nowhere). */
  metrics?: SinkMetrics;
  /**
   * Which of the server's worker processes creates the sink (default: the
   * only one). Sinks that own files keep apart what each worker writes.
   */
  worker?: WorkerSlot;
}

/** One of `count` worker processes serving the same port, numbered from 0. */
export interface WorkerSlot {
  index: number;
  count: number;
}

/** A registered sink: its config section (schema, env overrides) and its factory. */
export interface SinkDefinition<O = unknown> extends ConfigSection<O> {
  create(options: O, context: SinkContext): Sink | Promise<Sink>;
}

/** The sink cannot make the events durable now (down, timed out, or full). */
export class SinkUnavailableError extends Error {
  /** Seconds a client should wait before retrying. */
  readonly retryAfterS: number;

  constructor(message: string, options: { retryAfterS?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "SinkUnavailableError";
    this.retryAfterS = options.retryAfterS ?? 1;
  }
}

/** The parsed options of `sink`'s config section, typed by its definition. */
export function sinkOptions<O>(config: GatewayConfig, sink: ConfigSection<O>): O {
  return config.sinkOptions[sink.name] as O;
}

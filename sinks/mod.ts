/**
 * The sink contract and the registry of sinks. Adding a sink is one file in
 * `sinks/` plus one line in {@linkcode SINKS}; nothing else branches on a sink's name.
 *
 * @module
 */
import type { Logger } from "pino";
import type { FieldValue } from "../config/fields.ts";
import type { GatewayConfig } from "../config/mod.ts";
import type { Schema } from "../config/schema.ts";
import type { SinkMetrics } from "../ops/metrics.ts";
import { kafkaSink } from "./kafka.ts";
import { parquetSink } from "./parquet.ts";
import { stdoutSink } from "./stdout.ts";

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

/** What a sink factory gets besides its own options. */
export interface SinkContext {
  config: GatewayConfig;
  logger: Logger;
  /** Where flushes, errors and files are counted (default: nowhere). */
  metrics?: SinkMetrics;
}

/** A registered sink: its config section, env overrides and factory. */
export interface SinkDefinition<O = unknown> {
  /** The name used in `sinks:`, `--sinks` and as the config section key. */
  readonly name: string;
  /** Schema of the sink's config section; every key needs a default. */
  readonly options: Schema<O>;
  /** Applies environment overrides (e.g. `KAFKA_BROKERS`) to parsed options. */
  fromEnv?(options: O, env: (name: string) => string | undefined): O;
  create(options: O, context: SinkContext): Sink | Promise<Sink>;
}

/** Every sink Herald knows, by name. */
export const SINKS: readonly SinkDefinition[] = [stdoutSink, parquetSink, kafkaSink];

/** Finds a registered sink by name. */
export function findSink(name: string): SinkDefinition | undefined {
  return SINKS.find((s) => s.name === name);
}

/** Creates the selected sinks in order; if one fails, closes those already made. */
export async function createSinks(
  config: GatewayConfig,
  logger: Logger,
  metrics?: SinkMetrics,
): Promise<Sink[]> {
  const created: Sink[] = [];
  try {
    for (const name of config.sinks) {
      const definition = findSink(name);
      if (!definition) throw new TypeError(`Unknown sink "${name}"`);
      created.push(await definition.create(config.sinkOptions[name], { config, logger, metrics }));
    }
    return created;
  } catch (error) {
    await Promise.allSettled(created.map((s) => s.close()));
    throw error;
  }
}

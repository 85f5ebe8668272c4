/**
 * The registry of sinks. Adding a sink is one folder or file in `sinks/` plus
 * one line in {@linkcode SINKS}; nothing else branches on a sink's name. The
 * contract every sink implements is in `contract.ts`.
 *
 * @module
 */
import type { Logger } from "pino";
import type { GatewayConfig } from "../config/mod.ts";
import type { Sink, SinkDefinition, SinkMetrics, WorkerSlot } from "./contract.ts";
import { kafkaSink } from "./kafka/mod.ts";
import { parquetSink } from "./parquet/mod.ts";
import { stdoutSink } from "./stdout.ts";

export * from "./contract.ts";

/** Every sink Herald knows, by name. */
export const SINKS: readonly SinkDefinition[] = [stdoutSink, parquetSink, kafkaSink];

/** Options of {@linkcode createSinks}. */
export interface CreateSinksOptions {
  logger: Logger;
  metrics?: SinkMetrics;
  /** The worker process the sinks belong to (default: the only one). */
  worker?: WorkerSlot;
  /** Where the selected sinks are looked up (default {@linkcode SINKS}). */
  registry?: readonly SinkDefinition[];
}

/** Creates the selected sinks in order; if one fails, closes those already made. */
export async function createSinks(
  config: GatewayConfig,
  options: CreateSinksOptions,
): Promise<Sink[]> {
  const { logger, metrics, worker, registry = SINKS } = options;
  const created: Sink[] = [];
  try {
    for (const name of config.sinks) {
      const definition = registry.find((s) => s.name === name);
      if (!definition) throw new TypeError(`Unknown sink "${name}"`);
      created.push(
        await definition.create(config.sinkOptions[name], { config, logger, metrics, worker }),
      );
    }
    return created;
  } catch (error) {
    await Promise.allSettled(created.map((s) => s.close()));
    throw error;
  }
}

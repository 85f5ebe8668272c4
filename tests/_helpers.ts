import pino from "pino";
import { type GatewayConfig, loadConfig, parseConfig } from "../config/mod.ts";
import { Metrics } from "../ops/metrics.ts";
import { buildApp } from "../routes/mod.ts";
import { FanOut } from "../sinks/fan_out.ts";
import { MemorySink } from "../sinks/memory.ts";
import { SINKS } from "../sinks/mod.ts";

/** The shipped config, parsed. */
export async function shippedConfig(): Promise<GatewayConfig> {
  const result = await loadConfig("config/gateway.yaml", { registry: SINKS });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return result.config;
}

/** Parses config text or throws with its errors. */
export function configFrom(text: string): GatewayConfig {
  const result = parseConfig(text, { registry: SINKS, file: "test.yaml" });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return result.config;
}

/** An app over an in-memory sink, with a fixed clock and counting ids. */
export function appWithMemorySink(
  config: GatewayConfig,
  options: { timeoutMs?: number; metrics?: Metrics } = {},
) {
  const metrics = options.metrics ?? new Metrics();
  const sink = new MemorySink();
  const logLines: string[] = [];
  const logger = pino({ base: null }, { write: (line: string) => logLines.push(line) });
  let n = 0;
  const fanOut = new FanOut([sink], {
    timeoutMs: options.timeoutMs ?? 1000,
    readyQueueRatio: config.server.ready_queue_ratio,
    onWrite: metrics.observeWrite,
  });
  const app = buildApp(config, fanOut, {
    logger,
    metrics,
    deps: {
      now: () => Date.UTC(2026, 10, 23, 10, 0, 0),
      eventId: () => `evt-${++n}`,
      requestId: () => `req-${n}`,
      random: () => 0.5,
    },
  });
  return { app, sink, logLines };
}

/** A seeded PRNG (mulberry32) giving numbers in [0, 1), so a failing run can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The value of one sample of Prometheus exposition text, or undefined when absent. */
export function sample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const match = line.match(/^([a-z_]+)(?:\{(.*)\})? (\S+)$/);
    if (!match || match[1] !== name) continue;
    const have = match[2]?.split(",") ?? [];
    if (wanted.length === have.length && wanted.every((w) => have.includes(w))) {
      return Number(match[3]);
    }
  }
  return undefined;
}

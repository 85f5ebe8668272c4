/**
 * Fan-out with the `fan_out` policy (as in Redpanda Connect's broker): every
 * event goes to every selected sink, and a write succeeds only when all of
 * them have made it durable within `timeoutMs`. Any failure or timeout fails
 * the whole write, so the client gets 503 and retries. Sinks that did succeed
 * keep the event, so a retried event can appear twice in those sinks
 * (at-least-once across sinks).
 *
 * @module
 */
import { SinkUnavailableError } from "./errors.ts";
import type { Event, Health, Sink } from "./mod.ts";

/** Health of each sink, and whether all are healthy. */
export interface FanOutHealth {
  ok: boolean;
  sinks: Record<string, Health>;
}

/** Delivers to every sink at once; see the module doc for the policy. */
export class FanOut {
  readonly sinks: readonly Sink[];
  #timeoutMs: number;

  constructor(sinks: readonly Sink[], options: { timeoutMs: number }) {
    this.sinks = sinks;
    this.#timeoutMs = options.timeoutMs;
  }

  /** Resolves when every sink has the events; rejects with `SinkUnavailableError` otherwise. */
  async write(events: readonly Event[]): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new SinkUnavailableError(`Sinks did not confirm within ${this.#timeoutMs} ms`)),
        this.#timeoutMs,
      );
    });
    try {
      const writes = this.sinks.map((sink) =>
        sink.write(events).catch((error) => {
          throw error instanceof SinkUnavailableError ? error : new SinkUnavailableError(
            `Sink "${sink.name}" failed: ${error instanceof Error ? error.message : error}`,
            { cause: error },
          );
        })
      );
      await Promise.race([Promise.all(writes), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs every sink's health check. */
  async health(): Promise<FanOutHealth> {
    const entries = await Promise.all(
      this.sinks.map(async (sink): Promise<[string, Health]> => {
        try {
          return [sink.name, await sink.health()];
        } catch (error) {
          return [sink.name, { ok: false, detail: String(error) }];
        }
      }),
    );
    return { ok: entries.every(([, h]) => h.ok), sinks: Object.fromEntries(entries) };
  }

  /** Closes every sink, even when one of them fails; rethrows the first failure. */
  async close(): Promise<void> {
    const results = await Promise.allSettled(this.sinks.map((s) => s.close()));
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
  }
}

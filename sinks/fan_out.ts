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

interface Pending {
  deadline: number;
  reject: (error: unknown) => void;
}

/** Delivers to every sink at once; see the module doc for the policy. */
export class FanOut {
  readonly sinks: readonly Sink[];
  #timeoutMs: number;
  // One sweep over pending writes instead of a timer per request: creating and
  // clearing a timer per event showed up in profiles of the hot path.
  #pending = new Set<Pending>();
  #sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(sinks: readonly Sink[], options: { timeoutMs: number }) {
    this.sinks = sinks;
    this.#timeoutMs = options.timeoutMs;
  }

  /** Resolves when every sink has the events; rejects with `SinkUnavailableError` otherwise. */
  write(events: readonly Event[]): Promise<void> {
    const writes = this.sinks.length === 1
      ? this.#writeTo(this.sinks[0]!, events)
      : Promise.all(this.sinks.map((sink) => this.#writeTo(sink, events)));
    return new Promise<void>((resolve, reject) => {
      const entry: Pending = { deadline: Date.now() + this.#timeoutMs, reject };
      this.#pending.add(entry);
      this.#sweeper ??= setInterval(
        () => this.#sweep(),
        Math.max(5, Math.min(100, this.#timeoutMs / 10)),
      );
      writes.then(
        () => this.#settle(entry) && resolve(),
        (error) => this.#settle(entry) && reject(error),
      );
    });
  }

  #writeTo(sink: Sink, events: readonly Event[]): Promise<void> {
    return sink.write(events).catch((error) => {
      throw error instanceof SinkUnavailableError ? error : new SinkUnavailableError(
        `Sink "${sink.name}" failed: ${error instanceof Error ? error.message : error}`,
        { cause: error },
      );
    });
  }

  /** Removes a pending write; false when the sweep already timed it out. */
  #settle(entry: Pending): boolean {
    return this.#pending.delete(entry);
  }

  #sweep(): void {
    // The sweeper stops only when a whole period passed with nothing pending:
    // stopping and restarting it per flush costs as much as a timer per request.
    if (this.#pending.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
      return;
    }
    const now = Date.now();
    for (const entry of this.#pending) {
      if (entry.deadline > now) continue;
      this.#settle(entry);
      entry.reject(new SinkUnavailableError(`Sinks did not confirm within ${this.#timeoutMs} ms`));
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

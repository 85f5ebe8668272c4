/**
 * Fan-out with the `fan_out_fail_fast` policy (Redpanda Connect's name for
 * it; their `fan_out` retries a failed output forever instead): every event
 * goes to every selected sink, and a write succeeds only when all of them
 * have made it durable within `timeoutMs`. Any failure or timeout fails the
 * whole write at once, so the client gets 503 and retries. Sinks that did succeed
 * keep the event, so a retried event can appear twice in those sinks
 * (at-least-once across sinks).
 *
 * @module
 */
import type { GatewayConfig } from "../config/mod.ts";
import {
  type Event,
  type Health,
  type Sink,
  type SinkLoad,
  SinkUnavailableError,
} from "./contract.ts";

/** What a write does when one sink fails: fail the whole write now (see the module doc). */
export const FAN_OUT_POLICY = "fan_out_fail_fast";

/** A sink's health with its queue, as /readyz shows it. */
export interface SinkReadiness extends Health {
  queue?: SinkLoad;
}

/** Health of each sink, and whether all are healthy. */
export interface FanOutHealth {
  ok: boolean;
  sinks: Record<string, SinkReadiness>;
}

/** Observes each sink write: accepted or not, and how many events. */
export type WriteObserver = (sink: string, accepted: boolean, events: number) => void;

/** Options of {@linkcode FanOut}. */
export interface FanOutOptions {
  timeoutMs: number;
  /** A sink whose queue is this full (fraction of its limit) is reported not ready (default 1). */
  readyQueueRatio?: number;
  onWrite?: WriteObserver;
}

interface Pending {
  deadline: number;
  reject: (error: unknown) => void;
}

/** Delivers to every sink at once; see the module doc for the policy. */
export class FanOut {
  /** The policy, by the name Redpanda Connect gives it. */
  readonly policy = FAN_OUT_POLICY;
  readonly sinks: readonly Sink[];
  /** How long every sink has to confirm a write. */
  timeoutMs: number;
  readyQueueRatio: number;
  /**
   * Called with the events of every write that succeeded, before it
   * resolves (the live page's hub); unset, a write pays only the check.
   */
  onAccepted: ((events: readonly Event[]) => void) | undefined;
  #onWrite: WriteObserver;
  // One sweep over pending writes instead of a timer per request: creating and
  // clearing a timer per event showed up in profiles of the hot path.
  #pending = new Set<Pending>();
  #sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(sinks: readonly Sink[], options: FanOutOptions) {
    this.sinks = sinks;
    this.timeoutMs = options.timeoutMs;
    this.readyQueueRatio = options.readyQueueRatio ?? 1;
    this.#onWrite = options.onWrite ?? (() => {});
  }

  /** Resolves when every sink has the events; rejects with `SinkUnavailableError` otherwise. */
  write(events: readonly Event[]): Promise<void> {
    const writes = this.sinks.length === 1
      ? this.#writeTo(this.sinks[0]!, events)
      : Promise.all(this.sinks.map((sink) => this.#writeTo(sink, events)));
    return new Promise<void>((resolve, reject) => {
      const entry: Pending = { deadline: Date.now() + this.timeoutMs, reject };
      this.#pending.add(entry);
      this.#sweeper ??= setInterval(
        () => this.#sweep(),
        Math.max(5, Math.min(100, this.timeoutMs / 10)),
      );
      writes.then(
        () => {
          if (!this.#settle(entry)) return;
          resolve();
          // An observer: whatever it does, the write has succeeded.
          try {
            this.onAccepted?.(events);
          } catch {
            // The live page misses these events; the sinks have them.
          }
        },
        (error) => this.#settle(entry) && reject(error),
      );
    });
  }

  #writeTo(sink: Sink, events: readonly Event[]): Promise<void> {
    return sink.write(events).then(
      () => this.#onWrite(sink.name, true, events.length),
      (error) => {
        this.#onWrite(sink.name, false, events.length);
        // Any failure is SinkUnavailableError, so the client gets 503.
        throw error instanceof SinkUnavailableError ? error : new SinkUnavailableError(
          `Sink "${sink.name}" failed: ${error instanceof Error ? error.message : error}`,
          { cause: error },
        );
      },
    );
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
      entry.reject(new SinkUnavailableError(`Sinks did not confirm within ${this.timeoutMs} ms`));
    }
  }

  /**
   * Runs every sink's health check and reads its queue: a queue filled to
   * `readyQueueRatio` of its limit makes the sink not ready before it refuses
   * writes, so a load balancer moves traffic away first.
   */
  async health(): Promise<FanOutHealth> {
    const entries = await Promise.all(
      this.sinks.map(async (sink): Promise<[string, SinkReadiness]> => {
        let health: Health;
        try {
          health = await sink.health();
        } catch (error) {
          health = { ok: false, detail: String(error) };
        }
        const queue = sink.load?.();
        if (!queue) return [sink.name, health];
        const ratio = queue.queued / queue.limit;
        if (health.ok && ratio >= this.readyQueueRatio) {
          health = {
            ok: false,
            detail: `queue is ${
              Math.round(ratio * 100)
            }% full (${queue.queued} of ${queue.limit} ${queue.unit})`,
          };
        }
        return [sink.name, { ...health, queue }];
      }),
    );
    return { ok: entries.every(([, h]) => h.ok), sinks: Object.fromEntries(entries) };
  }

  /** Hands a reloaded config to every sink that needs it; resolves when all have adopted it. */
  async reconfigure(config: GatewayConfig): Promise<void> {
    await Promise.all(this.sinks.map((sink) => sink.reconfigure?.(config)));
    // Only once every sink took the config: a rejected reload changes nothing here.
    this.timeoutMs = config.server.ack_timeout_ms;
    this.readyQueueRatio = config.server.ready_queue_ratio;
  }

  /** Closes every sink, even when one of them fails; rethrows the first failure. */
  async close(): Promise<void> {
    const results = await Promise.allSettled(this.sinks.map((s) => s.close()));
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
  }
}

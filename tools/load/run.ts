/**
 * The run: `concurrency` workers, each with one keep-alive connection, send
 * generated requests in a closed loop (the next as soon as the previous one
 * is answered) or an open loop (at fixed intervals, latency timed from each
 * request's scheduled time, so waiting for a free connection counts: no
 * coordinated omission), and tally every answer.
 *
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { GatewayConfig } from "../../config/mod.ts";
import { loadConfig } from "../../config/mod.ts";
import { SINKS } from "../../sinks/mod.ts";
import { RequestBuilder } from "./generate.ts";
import { HttpClient } from "./http.ts";
import { LatencyRecorder } from "./latency.ts";
import { LoadError, type LoadOptions, type LoadProgress, planLoad } from "./options.ts";
import type { LoadSummary } from "./report.ts";

const ERROR_BACKOFF_MS = 10;

class Tally {
  requests = 0;
  events = 0;
  rejected = 0;
  errors = 0;
  non2xx = 0;
  readonly codes = new Float64Array(1000);
  readonly errorKinds = new Map<string, number>();
  readonly latency = new LatencyRecorder();
  /** Open loop: how late each request left after its scheduled time (the tool's own delay). */
  readonly sendLag = new LatencyRecorder();

  answer(status: number): void {
    this.codes[status] = this.codes[status]! + 1;
    if (status < 200 || status > 299) this.non2xx++;
  }

  error(error: unknown): void {
    this.errors++;
    const kind = error instanceof Error ? error.name : "Error";
    this.errorKinds.set(kind, (this.errorKinds.get(kind) ?? 0) + 1);
  }

  /** Counts a batch answer's `accepted` and `rejected` items. */
  batchAnswer(status: number, body: string, batch: number): void {
    let answer: { accepted?: unknown; rejected?: unknown } | null = null;
    try {
      answer = JSON.parse(body);
    } catch { /* not JSON: counted by status only */ }
    const accepted = answer?.accepted;
    const rejected = answer?.rejected;
    if (typeof accepted === "number") this.events += accepted;
    else if (status >= 200 && status < 300) this.events += batch;
    if (typeof rejected === "number") this.rejected += rejected;
  }

  summary(seconds: number): LoadSummary {
    const status: Record<string, number> = {};
    this.codes.forEach((n, code) => {
      if (n > 0) status[String(code)] = n;
    });
    const latency = this.latency;
    const ms = (x: number) => round(x, 3);
    const lag = this.sendLag;
    return {
      requests: this.requests,
      events: this.events,
      events_rejected: this.rejected,
      duration_s: round(seconds, 3),
      requests_per_s: round(this.requests / seconds, 1),
      events_per_s: round(this.events / seconds, 1),
      latency_ms: {
        p50: ms(latency.percentile(50)),
        p90: ms(latency.percentile(90)),
        p99: ms(latency.percentile(99)),
        max: ms(latency.max),
      },
      send_lag_ms: lag.count === 0
        ? null
        : { p50: ms(lag.percentile(50)), p99: ms(lag.percentile(99)), max: ms(lag.max) },
      status,
      non_2xx: this.non2xx,
      errors: this.errors,
      error_kinds: Object.fromEntries(this.errorKinds),
    };
  }
}

interface Worker {
  client: HttpClient;
  requests: RequestBuilder;
  /** When the request in flight was sent; -1 when idle. */
  since: number;
}

const round = (x: number, digits: number) => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

/**
 * Runs a load test against a running Herald and resolves with its summary.
 * Rejects with {@linkcode LoadError} before sending anything when an option or
 * the config is unusable or the target cannot be reached. Non-2xx answers and
 * failed requests do not reject: they are counted in the summary.
 */
export async function runLoad(options: LoadOptions): Promise<LoadSummary> {
  let config: GatewayConfig;
  if (typeof options.config === "string") {
    const loaded = await loadConfig(options.config, { registry: SINKS });
    if (!loaded.ok) throw new LoadError(loaded.errors.join("\n"));
    config = loaded.config;
  } else config = options.config;
  const plan = planLoad(options, config);
  const { batch, durationMs, limit, rate, target, timeoutMs, progressIntervalMs } = plan;

  const tally = new Tally();
  const workers: Worker[] = Array.from({ length: plan.concurrency }, () => ({
    client: new HttpClient(target.hostname, target.port),
    requests: new RequestBuilder(plan),
    since: -1,
  }));
  const first = workers[0]!.client;
  try {
    await first.connect();
  } catch (error) {
    throw new LoadError(`Cannot reach "${options.url}": ${(error as Error).message}`);
  }
  await Promise.allSettled(workers.slice(1).map((w) => w.client.connect()));

  const t0 = performance.now();
  const deadline = t0 + durationMs;
  const interval = rate > 0 ? 1000 / rate : 0;
  let issued = 0;
  let stopped = options.signal?.aborted ?? false;
  const onAbort = () => (stopped = true);
  options.signal?.addEventListener("abort", onAbort);
  /** The next request's scheduled time (open loop) or 0 (closed loop); -1 to stop. */
  const next = (): number => {
    if (stopped || issued >= limit) return -1;
    if (rate > 0) {
      const at = t0 + issued * interval;
      if (at >= deadline) return -1;
      issued++;
      return at;
    }
    if (durationMs !== Infinity && performance.now() >= deadline) return -1;
    issued++;
    return 0;
  };

  const work = async (w: Worker) => {
    for (;;) {
      const at = next();
      if (at < 0) return;
      // Open loop: a request due while every connection was busy leaves late;
      // that wait counts in its latency. The delay after it was due and a
      // connection was free is the tool's own (its timers, its event loop).
      const free = performance.now();
      if (rate > 0) {
        const wait = at - free;
        if (wait > 0) await sleep(wait);
      }
      const request = w.requests.next();
      const sent = performance.now();
      if (rate > 0) tally.sendLag.record(sent - Math.max(at, free));
      w.since = sent;
      try {
        const status = await w.client.send(request, batch > 0);
        tally.latency.record(performance.now() - (rate > 0 ? at : sent));
        tally.answer(status);
        if (batch > 0) tally.batchAnswer(status, w.client.body, batch);
        else if (status >= 200 && status < 300) tally.events++;
      } catch (error) {
        tally.error(error);
        w.since = -1;
        await sleep(ERROR_BACKOFF_MS);
      } finally {
        w.since = -1;
        tally.requests++;
      }
    }
  };

  let lastProgress = t0;
  const progress = (now: number, finished = false): LoadProgress => {
    const elapsedMs = now - t0;
    const byCount = limit === Infinity ? 0 : tally.requests / limit;
    const byTime = durationMs === Infinity ? 0 : elapsedMs / durationMs;
    return {
      elapsedMs,
      requests: tally.requests,
      events: tally.events,
      errors: tally.errors,
      non2xx: tally.non2xx,
      done: finished ? 1 : Math.min(1, Math.max(byCount, byTime)),
    };
  };
  const ticker = setInterval(() => {
    const now = performance.now();
    for (const w of workers) if (w.since >= 0 && now - w.since > timeoutMs) w.client.abort();
    if (options.onProgress && now - lastProgress >= progressIntervalMs) {
      lastProgress = now;
      options.onProgress(progress(now));
    }
  }, Math.min(250, progressIntervalMs, timeoutMs));

  let end: number;
  try {
    await Promise.all(workers.map(work));
    end = performance.now();
  } finally {
    clearInterval(ticker);
    options.signal?.removeEventListener("abort", onAbort);
    for (const w of workers) w.client.close();
  }
  options.onProgress?.(progress(end, true));
  return tally.summary((end - t0) / 1000);
}

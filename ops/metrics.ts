/**
 * Herald's Prometheus metrics (prom-client), served at `GET /metrics`.
 *
 * Sinks do not depend on prom-client: they report through the small
 * {@linkcode SinkMetrics} interface, and queue depths are read from each
 * sink's {@linkcode Sink.load} when Prometheus scrapes, never on the hot path.
 *
 * With several worker processes, each keeps its own registry and the worker
 * that is scraped sums every worker's metrics (prom-client's cluster
 * aggregation): counters and histograms add up, and so do the gauges, except
 * `herald_sink_up` and `herald_config_last_reload_successful`, which take the
 * lowest value, so 1 means every worker.
 *
 * @module
 */
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { DedupStats, RouteMetrics } from "../routes/mod.ts";
import type { WriteObserver } from "../sinks/fan_out.ts";
import type { Sink, SinkLoad, SinkMetrics } from "../sinks/contract.ts";
import type { WorkerMetrics } from "./siblings.ts";

// Seconds: a Kafka ack is about a millisecond, a log fsync a few, a stalled broker the ack timeout.
const LATENCY_BUCKETS = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];
const SIZE_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];

/**
 * A counter with two labels, counted on the hot path in a plain Map:
 * prom-client hashes a label object on every `inc` (about 0.2 µs, twice per
 * request). The registry reads the totals when it is scraped.
 */
export class Tally<A extends string, B extends string> {
  readonly counter: Counter<A | B>;
  #totals = new Map<string, { labels: Record<A | B, string>; n: number }>();
  #names: readonly [A, B];

  constructor(registry: Registry, name: string, help: string, labelNames: readonly [A, B]) {
    this.#names = labelNames;
    const totals = this.#totals;
    this.counter = new Counter<A | B>({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const { labels, n } of totals.values()) this.inc(labels, n);
      },
    });
  }

  /** Adds `n` to the series labelled `a` and `b` (in `labelNames` order). */
  add(a: string, b: string | number, n = 1): void {
    const key = a + "\u0000" + b;
    const entry = this.#totals.get(key);
    if (entry) entry.n += n;
    else {
      const labels = { [this.#names[0]]: a, [this.#names[1]]: String(b) } as Record<A | B, string>;
      this.#totals.set(key, { labels, n });
    }
  }
}

/** Every metric Herald exposes, in one registry. */
export class Metrics implements SinkMetrics, RouteMetrics {
  readonly registry = new Registry();
  #sinks: readonly Sink[] = [];
  #dedup: (() => DedupStats) | null = null;
  #cluster: { count: number; siblings: () => Promise<WorkerMetrics[]> } | undefined;

  /** Label values: action, status. */
  readonly requests = new Tally(
    this.registry,
    "herald_http_requests_total",
    "HTTP requests answered, by action (or _batch, _segment, _ops, _unmatched) and status code.",
    ["action", "status"],
  );
  /** Label values: sink, outcome. */
  /** Label values: key (`client_time`, `sent_at`), outcome (`rejected`, `nulled`). */
  readonly clientTimes = new Tally(
    this.registry,
    "herald_client_time_invalid_total",
    "Client times that were unparsable or implausible: rejected with 400, or stored as null.",
    ["key", "outcome"],
  );
  readonly segmentStored = new Counter({
    name: "herald_segment_unknown_stored_total",
    help:
      "Segment messages no action takes, stored in the _rejected table (unknown_events: store).",
    registers: [this.registry],
  });
  /** Label values: sink, outcome. */
  readonly sinkEvents = new Tally(
    this.registry,
    "herald_sink_events_total",
    "Events each sink made durable (accepted) or could not take (rejected).",
    ["sink", "outcome"],
  );
  // Timed per flush, not per request: an observation costs about half a
  // microsecond, and a flush carries many requests' events under load.
  readonly flushSeconds = new Histogram({
    name: "herald_sink_flush_seconds",
    help:
      "Time one flush took: a Kafka Produce request to its ack, a log write and fsync, a stdout write.",
    labelNames: ["sink"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly batchEvents = new Histogram({
    name: "herald_batch_request_events",
    help: "Items per POST /events request.",
    buckets: SIZE_BUCKETS,
    registers: [this.registry],
  });
  readonly flushEvents = new Histogram({
    name: "herald_sink_flush_events",
    help: "Events per flush: per Kafka Produce request, per log fsync, per stdout write.",
    labelNames: ["sink"] as const,
    buckets: SIZE_BUCKETS,
    registers: [this.registry],
  });
  readonly sinkErrors = new Counter({
    name: "herald_sink_errors_total",
    help: "Failed writes to a sink's backend (a Kafka produce, a log write, a Parquet roll).",
    labelNames: ["sink", "kind"] as const,
    registers: [this.registry],
  });
  readonly filesWritten = new Counter({
    name: "herald_sink_files_written_total",
    help: "Data files written into place (the Parquet sink's lake files).",
    labelNames: ["sink"] as const,
    registers: [this.registry],
  });
  readonly configReloads = new Counter({
    name: "herald_config_reloads_total",
    help: "Config reloads (SIGHUP or --watch), applied or rejected.",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });

  readonly lastReloadOk = new Gauge({
    name: "herald_config_last_reload_successful",
    help: "1 when the last config reload was applied (or none was tried), 0 when it was rejected.",
    aggregator: "min",
    registers: [this.registry],
  });

  constructor() {
    for (const outcome of ["applied", "rejected"]) this.configReloads.inc({ outcome }, 0);
    for (const key of ["client_time", "sent_at"]) {
      for (const outcome of ["rejected", "nulled"]) this.clientTimes.add(key, outcome, 0);
    }
    this.lastReloadOk.set(1);
    const sinks = () => this.#sinks;
    const loads = () => sinks().flatMap((s) => (s.load ? [[s.name, s.load()] as const] : []));
    const queueGauges: [string, string, (load: SinkLoad) => number][] = [
      [
        "herald_sink_queue_depth",
        "Work waiting in each sink's queue, in the unit of herald_sink_queue_limit.",
        (load) => load.queued,
      ],
      [
        "herald_sink_queue_limit",
        "Queue depth past which a sink answers 503.",
        (load) => load.limit,
      ],
    ];
    for (const [name, help, value] of queueGauges) {
      new Gauge({
        name,
        help,
        labelNames: ["sink", "unit"] as const,
        registers: [this.registry],
        collect() {
          this.reset();
          for (const [sink, load] of loads()) this.set({ sink, unit: load.unit }, value(load));
        },
      });
    }
    new Gauge({
      name: "herald_sink_up",
      help: "1 when the sink's last health check passed, else 0.",
      labelNames: ["sink"] as const,
      aggregator: "min",
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const sink of sinks()) {
          const health = await sink.health().catch(() => ({ ok: false }));
          this.set({ sink: sink.name }, health.ok ? 1 : 0);
        }
      },
    });
    const dedup = () => this.#dedup?.();
    new Gauge({
      name: "herald_dedup_window",
      help: "The dedup window in use: its time (unit ms) and count (unit ids) bounds.",
      labelNames: ["unit"] as const,
      aggregator: "max",
      registers: [this.registry],
      collect() {
        const stats = dedup();
        if (!stats) return;
        this.set({ unit: "ms" }, stats.windowMs);
        this.set({ unit: "ids" }, stats.maxIds);
      },
    });
    new Gauge({
      name: "herald_dedup_ids",
      help: "Client event ids held in the dedup window.",
      registers: [this.registry],
      collect() {
        this.set(dedup()?.held ?? 0);
      },
    });
    new Counter({
      name: "herald_dedup_duplicates_total",
      help: "Repeats of a client event id answered again without a write.",
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(dedup()?.duplicates ?? 0);
      },
    });
    new Counter({
      name: "herald_dedup_early_evictions_total",
      help:
        "Ids dropped from the dedup window for its count bound before its time was up: max_ids is too small.",
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(dedup()?.earlyEvictions ?? 0);
      },
    });
    new Gauge({
      name: "herald_process_memory_bytes",
      help: "Process memory: rss, heap_total, heap_used, external.",
      labelNames: ["kind"] as const,
      registers: [this.registry],
      collect() {
        const m = Deno.memoryUsage();
        this.set({ kind: "rss" }, m.rss);
        this.set({ kind: "heap_total" }, m.heapTotal);
        this.set({ kind: "heap_used" }, m.heapUsed);
        this.set({ kind: "external" }, m.external);
      },
    });
  }

  /** Tells the scrape which sinks to read queues and health from; zeroes their counters. */
  watchSinks(sinks: readonly Sink[]): void {
    this.#sinks = sinks;
    for (const { name: sink } of sinks) {
      for (const outcome of ["accepted", "rejected"]) this.sinkEvents.add(sink, outcome, 0);
    }
  }

  /** Tells the scrape where to read the dedup window's counters. */
  watchDedup(stats: (() => DedupStats) | null): void {
    this.#dedup = stats;
  }

  /** Counts one fan-out write to `sink`. */
  readonly observeWrite: WriteObserver = (sink, accepted, events) => {
    this.sinkEvents.add(sink, accepted ? "accepted" : "rejected", events);
  };

  flushed(sink: string, events: number, seconds: number): void {
    this.flushEvents.observe({ sink }, events);
    this.flushSeconds.observe({ sink }, seconds);
  }

  error(sink: string, kind: string): void {
    this.sinkErrors.inc({ sink, kind });
  }

  /** Counts a config reload and remembers whether the last one was applied. */
  reloaded(outcome: "applied" | "rejected"): void {
    this.configReloads.inc({ outcome });
    this.lastReloadOk.set(outcome === "applied" ? 1 : 0);
  }

  fileWritten(sink: string): void {
    this.filesWritten.inc({ sink });
  }

  /**
   * Makes {@linkcode scrape} answer for all `count` worker processes, with
   * the metrics `siblings` gathers from the others (those that answer).
   */
  gatherFrom(count: number, siblings: () => Promise<WorkerMetrics[]>): void {
    this.#cluster = { count, siblings };
  }

  /** This process's own metrics, for the worker that is scraped. */
  own(): Promise<WorkerMetrics> {
    return this.registry.getMetricsAsJSON() as Promise<WorkerMetrics>;
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ body: string; contentType: string }> {
    if (!this.#cluster) {
      return { body: await this.registry.metrics(), contentType: this.registry.contentType };
    }
    const [own, others] = await Promise.all([this.own(), this.#cluster.siblings()]);
    const merged = AggregatorRegistry.aggregate([own, ...others]);
    const workers = new Gauge({
      name: "herald_workers",
      help: "Worker processes: configured, and answering this scrape (their metrics are summed).",
      labelNames: ["state"] as const,
      registers: [merged],
    });
    workers.set({ state: "configured" }, this.#cluster.count);
    workers.set({ state: "answering" }, 1 + others.length);
    return { body: await merged.metrics(), contentType: merged.contentType };
  }
}

/**
 * One target measured: spawned, warmed up, loaded in a closed loop for its
 * max rate and CPU per event, then in an open loop at half that rate for
 * latency, with its memory sampled throughout, and stopped.
 *
 * @module
 */
import { type LoadSummary, runLoad } from "../load/mod.ts";
import type { BenchOptions } from "./args.ts";
import { formatCount, formatMs, formatWall } from "./format.ts";
import { SOAK_IDS } from "./args.ts";
import { readCpuSeconds, readOwnCpuSeconds, readRss, sampleMemory } from "./proc.ts";
import { soak } from "./soak.ts";
import { CONFIG, freePort, log, spawnServer } from "./process.ts";
import type { Measurement, PacedMeasurement, TargetResult } from "./results.ts";
import type { RunContext, TargetSpec } from "./targets.ts";

interface LoadPlan {
  url: string;
  batch: number;
  concurrency: number;
  durationMs: number;
  rate?: number;
  /** The target makes events (false for the ceiling). */
  events: boolean;
}

function measurementOf(summary: LoadSummary, plan: LoadPlan): Measurement {
  let ok = 0;
  for (const [code, n] of Object.entries(summary.status)) {
    if (Number(code) >= 200 && Number(code) < 300) ok += n;
  }
  const seconds = summary.duration_s > 0 ? summary.duration_s : plan.durationMs / 1000;
  return {
    requestsPerS: ok / seconds,
    eventsPerS: plan.events ? summary.events / seconds : null,
    requests: summary.requests,
    errors: summary.non_2xx + summary.errors,
    durationS: seconds,
    p50Ms: summary.latency_ms.p50,
    p99Ms: summary.latency_ms.p99,
    sendLagP99Ms: summary.send_lag_ms?.p99 ?? null,
  };
}

/** `"1,465 of 1,466 requests failed (503: 1,465)"`, or null when every answer was 2xx. */
function describeFailures(summary: LoadSummary): string | null {
  const failed = summary.non_2xx + summary.errors;
  if (failed === 0) return null;
  const kinds = [
    ...Object.entries(summary.status).filter(([code]) => !code.startsWith("2")),
    ...Object.entries(summary.error_kinds),
  ].map(([kind, n]) => `${kind}: ${formatCount(n)}`);
  return `${formatCount(failed)} of ${formatCount(summary.requests)} requests failed ` +
    `(${kinds.join(", ")})`;
}

/** The `err` of the last JSON log line that has one, from a server's stderr. */
function lastServerError(stderr: string): string | null {
  for (const line of stderr.trimEnd().split("\n").reverse()) {
    try {
      const parsed = JSON.parse(line);
      if (typeof parsed?.err === "string") return parsed.err;
      if (typeof parsed?.err?.message === "string") return parsed.err.message;
    } catch { /* not a JSON line */ }
  }
  return null;
}

function load(plan: LoadPlan, signal?: AbortSignal): Promise<LoadSummary> {
  return runLoad({
    signal,
    url: plan.url,
    config: CONFIG,
    mix: "purchase_a_sword",
    concurrency: plan.concurrency,
    durationMs: plan.durationMs,
    rate: plan.rate,
    batch: plan.batch > 1 ? plan.batch : undefined,
  });
}

/** `herald_sink_flush_events` of `sink` (sum and count) from `url`'s `/metrics`, or null. */
export async function readFlushes(
  url: string,
  sink: string,
): Promise<{ events: number; flushes: number } | null> {
  try {
    const res = await fetch(`${url}/metrics`);
    const text = await res.text();
    const value = (suffix: string) => {
      const line = text.split("\n").find((l) =>
        l.startsWith(`herald_sink_flush_events_${suffix}{`) && l.includes(`sink="${sink}"`)
      );
      return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(" ") + 1));
    };
    const events = value("sum");
    const flushes = value("count");
    return Number.isFinite(events) && Number.isFinite(flushes) ? { events, flushes } : null;
  } catch {
    return null;
  }
}

/** Measures one target; rejects when it cannot be started. */
export async function measureTarget(
  spec: TargetSpec,
  ctx: RunContext,
  options: BenchOptions,
): Promise<TargetResult> {
  const result: TargetResult = {
    id: spec.id,
    label: spec.label,
    kind: spec.kind,
    eventsPerRequest: spec.batch,
  };
  const port = freePort();
  const command = await spec.command(ctx, port);
  if ("skip" in command) {
    result.skipped = command.skip;
    log(`${spec.id}: skipped: ${command.skip}`);
    return result;
  }
  log(`${spec.id}: starting ${spec.label}`);
  const began = performance.now();
  const server = await spawnServer(
    spec.label,
    command.cmd,
    command.args,
    command.env,
    port,
    60_000,
  );
  result.startMs = server.startMs;
  log(`${spec.id}: first 2xx ${Math.round(server.startMs)} ms after spawn (pid ${server.pid})`);
  const idle = readRss(server.pid);
  if (idle !== null) result.rssIdleMb = idle / 1e6;
  const memory = sampleMemory(server.pid);
  let detach: (() => Promise<string>) | undefined;
  try {
    detach = await spec.attach?.(`http://127.0.0.1:${port}`);
    const base = {
      url: `http://127.0.0.1:${port}`,
      batch: spec.batch,
      concurrency: options.concurrency,
      events: spec.kind !== "ceiling",
    };
    const measure = async (phase: string, plan: LoadPlan) => {
      const summary = await load(plan, ctx.abort.signal);
      if (ctx.abort.signal.aborted) throw new Error("Interrupted");
      const failures = describeFailures(summary);
      if (failures !== null) {
        const said = lastServerError(server.stderrTail());
        const line = `${spec.label}, ${phase}: ${failures}` +
          (said === null ? "" : `; the server said "${said}"`);
        log(`${spec.id}: ${line}`);
        ctx.notices.push(line);
      }
      return measurementOf(summary, plan);
    };
    await measure("warm-up", { ...base, durationMs: options.warmupS * 1000 });

    // CPU of every process on the request path: the server, the broker when
    // the target uses it, and the load tool (this process).
    const brokerPid = spec.needsKafka ? ctx.brokerPid : null;
    const cpuOf = () => ({
      server: readCpuSeconds(server.pid),
      broker: brokerPid === null ? null : readCpuSeconds(brokerPid),
      // Only this process's own: the servers and the broker are its children.
      load: readOwnCpuSeconds(Deno.pid),
    });
    const flushesOf = () =>
      spec.flushSink === undefined ? null : readFlushes(base.url, spec.flushSink);
    const flushesBefore = await flushesOf();
    const cpuBefore = cpuOf();
    const wallBefore = performance.now();
    const max = await measure("max rate", { ...base, durationMs: options.durationS * 1000 });
    const cpuAfter = cpuOf();
    const wallS = (performance.now() - wallBefore) / 1000;
    const flushesAfter = await flushesOf();
    if (flushesBefore && flushesAfter && flushesAfter.flushes > flushesBefore.flushes) {
      const flushes = flushesAfter.flushes - flushesBefore.flushes;
      result.flushes = {
        perS: flushes / wallS,
        eventsPerFlush: (flushesAfter.events - flushesBefore.events) / flushes,
      };
    }
    if (cpuBefore.server !== null && cpuAfter.server !== null) {
      result.cpuPercent = ((cpuAfter.server - cpuBefore.server) / wallS) * 100;
    }
    const units = max.eventsPerS ?? max.requestsPerS;
    const perUnit = (before: number | null, after: number | null) =>
      before === null || after === null || units <= 0
        ? undefined
        : ((after - before) / wallS / units) * 1e6;
    result.cpuUs = {
      server: perUnit(cpuBefore.server, cpuAfter.server),
      broker: perUnit(cpuBefore.broker, cpuAfter.broker),
      load: perUnit(cpuBefore.load, cpuAfter.load),
    };
    result.max = max;
    const peakAtMax = memory.peak();
    log(
      `${spec.id}: max ${formatCount(max.requestsPerS)} req/s` +
        (max.eventsPerS !== null ? `, ${formatCount(max.eventsPerS)} events/s` : "") +
        `, ${max.errors} errors, server CPU ${Math.round(result.cpuPercent ?? 0)}%`,
    );

    const rate = Math.floor(max.requestsPerS / 2);
    if (rate >= 1) {
      const plan = { ...base, durationMs: options.durationS * 1000, rate };
      const paced: PacedMeasurement = { ...(await measure("open loop", plan)), rate };
      result.paced = paced;
      log(
        `${spec.id}: open loop at ${formatCount(rate)} req/s: p50 ${formatMs(paced.p50Ms)} ms, ` +
          `p99 ${formatMs(paced.p99Ms)} ms (load tool's own send lag p99 ${
            formatMs(paced.sendLagP99Ms ?? NaN)
          } ms)`,
      );
    }
    if (options.soakS > 0 && SOAK_IDS.includes(spec.id)) {
      log(`${spec.id}: soak at max rate for ${formatWall(options.soakS)}, RSS every 5 s`);
      const soaked = await soak({
        url: base.url,
        pid: server.pid,
        durationS: options.soakS,
        concurrency: options.concurrency,
        signal: ctx.abort.signal,
      });
      if (ctx.abort.signal.aborted) throw new Error("Interrupted");
      if (soaked) {
        result.soak = soaked;
        log(
          `${spec.id}: soak ${formatCount(soaked.requestsPerS)} req/s; RSS start ` +
            `${Math.round(soaked.startMb)}, peak ${Math.round(soaked.peakMb)}, end ` +
            `${Math.round(soaked.endMb)} MB`,
        );
      }
    }
    const peak = memory.peak();
    if (peak !== null) {
      result.rssPeakMb = peak / 1e6;
      log(
        `${spec.id}: peak RSS ${Math.round(peak / 1e6)} MB ` +
          `(${Math.round((peakAtMax ?? 0) / 1e6)} MB by the end of the max-rate run)`,
      );
    }
  } finally {
    memory.stop();
    if (detach) {
      const seen = `${spec.label}: ${await detach()}`;
      log(`${spec.id}: ${seen}`);
      ctx.notices.push(seen);
    }
    await server.stop();
  }
  log(`${spec.id}: done in ${formatWall((performance.now() - began) / 1000)}`);
  return result;
}

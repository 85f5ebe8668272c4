/**
 * The soak row: one target loaded at its max rate (closed loop) for minutes,
 * with the server's resident set read every few seconds, so a leak or a
 * buffer that grows with time shows as a rising line instead of hiding in a
 * 12-second run.
 *
 * @module
 */
import { runLoad } from "../load/mod.ts";
import { readRss } from "./proc.ts";
import { CONFIG } from "./process.ts";

/** What a soak measured. */
export interface SoakMeasurement {
  durationS: number;
  requestsPerS: number;
  errors: number;
  /** VmRSS in MB (10^6 bytes) at the first sample, the highest, and the last. */
  startMb: number;
  peakMb: number;
  endMb: number;
  /** The highest VmRSS of each minute, in MB. */
  perMinuteMb: number[];
}

/** Loads `url` (server `pid`) for `durationS` seconds at `concurrency`, sampling RSS. */
export async function soak(options: {
  url: string;
  pid: number;
  durationS: number;
  concurrency: number;
  signal?: AbortSignal;
  sampleMs?: number;
}): Promise<SoakMeasurement | null> {
  const samples: { atS: number; mb: number }[] = [];
  const began = performance.now();
  const take = () => {
    const rss = readRss(options.pid);
    if (rss !== null) samples.push({ atS: (performance.now() - began) / 1000, mb: rss / 1e6 });
  };
  take();
  const timer = setInterval(take, options.sampleMs ?? 5000);
  let summary;
  try {
    summary = await runLoad({
      signal: options.signal,
      url: options.url,
      config: CONFIG,
      mix: "purchase_a_sword",
      concurrency: options.concurrency,
      durationMs: options.durationS * 1000,
    });
  } finally {
    clearInterval(timer);
  }
  take();
  if (samples.length === 0) return null;
  const perMinuteMb: number[] = [];
  for (const { atS, mb } of samples) {
    const minute = Math.min(Math.floor(atS / 60), Math.ceil(options.durationS / 60) - 1);
    perMinuteMb[minute] = Math.max(perMinuteMb[minute] ?? 0, mb);
  }
  let ok = 0;
  for (const [code, n] of Object.entries(summary.status)) {
    if (Number(code) >= 200 && Number(code) < 300) ok += n;
  }
  return {
    durationS: summary.duration_s,
    requestsPerS: ok / summary.duration_s,
    errors: summary.non_2xx + summary.errors,
    startMb: samples[0]!.mb,
    peakMb: Math.max(...samples.map((s) => s.mb)),
    endMb: samples.at(-1)!.mb,
    perMinuteMb: perMinuteMb.map((mb) => mb ?? 0),
  };
}

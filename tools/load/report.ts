/**
 * What a load run reports: the summary (the CLI prints it as is with
 * `--json`), the same as text for people, and the progress lines on stderr.
 *
 * @module
 */
import type { LoadProgress } from "./options.ts";

/** The outcome of a run; the CLI prints it as is with `--json`. */
export interface LoadSummary {
  /** Requests finished: answered with any status, or failed without an answer. */
  requests: number;
  /** Events Herald accepted: 2xx answers, or the `accepted` count of each batch answer. */
  events: number;
  /** Batch items Herald rejected (from each batch answer). */
  events_rejected: number;
  duration_s: number;
  requests_per_s: number;
  events_per_s: number;
  /** Over answered requests; `null` in JSON (`NaN`) when none was answered. */
  latency_ms: { p50: number; p90: number; p99: number; max: number };
  /**
   * Open loop only (else `null`): the tool's own delay in sending each
   * request once it was due and a connection was free (timer granularity, its
   * own event loop). It is part of `latency_ms`, which counts from the
   * scheduled time; waiting for a free connection is not in it.
   */
  send_lag_ms: { p50: number; p99: number; max: number } | null;
  /** Answers by status code. */
  status: Record<string, number>;
  /** Answers with a status outside 2xx. */
  non_2xx: number;
  /** Requests that got no HTTP answer. */
  errors: number;
  /** `errors` by kind, such as `ConnectionRefused` or `Timeout`. */
  error_kinds: Record<string, number>;
}

/** The summary as text for people, one line per topic. */
export function formatSummary(summary: LoadSummary): string {
  const n = (x: number) => (Number.isNaN(x) ? "-" : x.toFixed(2));
  const { p50, p90, p99, max } = summary.latency_ms;
  const codes = Object.entries(summary.status).map(([code, count]) => `${code}: ${count}`);
  const lines = [
    `requests    ${summary.requests} in ${summary.duration_s.toFixed(2)} s: ${
      summary.requests_per_s.toFixed(1)
    } requests/s`,
    `events      ${summary.events}: ${summary.events_per_s.toFixed(1)} events/s` +
    (summary.events_rejected > 0 ? `, ${summary.events_rejected} rejected` : ""),
    `latency ms  p50 ${n(p50)}, p90 ${n(p90)}, p99 ${n(p99)}, max ${n(max)}`,
    ...(summary.send_lag_ms
      ? [
        `send lag ms p50 ${n(summary.send_lag_ms.p50)}, p99 ${n(summary.send_lag_ms.p99)}, max ${
          n(summary.send_lag_ms.max)
        } (the tool's own delay, included above)`,
      ]
      : []),
    `status      ${[...codes, `error: ${summary.errors}`].join(", ")}`,
  ];
  const kinds = Object.entries(summary.error_kinds);
  if (kinds.length > 0) {
    lines.push(`errors      ${kinds.map(([kind, count]) => `${kind}: ${count}`).join(", ")}`);
  }
  if (summary.non_2xx > 0 || summary.errors > 0) {
    lines.push(
      `warning     ${summary.non_2xx} answers were not 2xx and ${summary.errors} requests got no answer, of ${summary.requests}`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Progress on stderr: a bar redrawn every 250 ms on a terminal, else one line
 * every 5 s.
 */
export function progressPrinter(isTerminal: boolean): {
  intervalMs: number;
  onProgress(p: LoadProgress): void;
  finish(): void;
} {
  const encoder = new TextEncoder();
  let last = { elapsedMs: 0, requests: 0 };
  const write = (text: string) => {
    try {
      Deno.stderr.writeSync(encoder.encode(text));
    } catch { /* stderr gone */ }
  };
  return {
    intervalMs: isTerminal ? 250 : 5000,
    onProgress(p: LoadProgress) {
      const seconds = (p.elapsedMs - last.elapsedMs) / 1000;
      const perSecond = seconds > 0 ? (p.requests - last.requests) / seconds : 0;
      last = p;
      const stats = `${(p.elapsedMs / 1000).toFixed(1)}s  ${p.requests} requests  ${
        perSecond.toFixed(0)
      } req/s  ${p.errors} errors  ${p.non2xx} non-2xx`;
      if (isTerminal) {
        const filled = Math.round(p.done * 30);
        const bar = `[${"#".repeat(filled)}${"-".repeat(30 - filled)}] ${
          (p.done * 100).toFixed(0).padStart(3)
        }%`;
        write(`\r\x1b[2K${bar}  ${stats}`);
      } else write(`load: ${stats}\n`);
    },
    finish() {
      if (isTerminal) write("\r\x1b[2K");
    },
  };
}

/**
 * The stdout sink: one NDJSON line per event, formatted by pino and written to
 * standard output with group commit. A write resolves once its line has been
 * handed to the stdout file descriptor.
 *
 * @module
 */
import pino from "pino";
import { GroupCommit } from "./_group_commit.ts";
import { type ByteWriter, writeAll } from "./io.ts";
import {
  type Event,
  NO_SINK_METRICS,
  type Sink,
  type SinkDefinition,
  type SinkMetrics,
  SinkUnavailableError,
} from "./contract.ts";
import { type StdoutOptions, stdoutOptions as options } from "./stdout_options.ts";

export type { StdoutOptions } from "./stdout_options.ts";

/** Creates a stdout sink writing to `out` (default: `Deno.stdout`). */
export function createStdoutSink(
  opts: StdoutOptions,
  out: ByteWriter = Deno.stdout,
  metrics: SinkMetrics = NO_SINK_METRICS,
): Sink {
  let lines: string[] = [];
  // Only the event itself goes out: no level, time or pid. pino then starts the
  // object with a comma, which `format` removes.
  const formatter = pino(
    { base: null, timestamp: false, formatters: { level: () => ({}) } },
    { write: (line: string) => lines.push(line) },
  );
  const format = (events: readonly Event[]): string => {
    for (const event of events) formatter.info(event);
    const text = lines.map((l) => l.startsWith("{,") ? "{" + l.slice(2) : l).join("");
    lines = [];
    return text;
  };
  const encoder = new TextEncoder();
  let broken: unknown = null;
  const commit = new GroupCommit<{ text: string; events: number }>(async (items) => {
    const started = performance.now();
    try {
      await writeAll(out, encoder.encode(items.map((i) => i.text).join("")));
      broken = null;
      const events = items.reduce((n, i) => n + i.events, 0);
      metrics.flushed("stdout", events, (performance.now() - started) / 1000);
    } catch (error) {
      broken = error;
      metrics.error("stdout", "write");
      throw new SinkUnavailableError(`Cannot write to stdout: ${error}`, { cause: error });
    }
  }, { maxPendingBytes: opts.max_pending_bytes });

  return {
    name: "stdout",
    write(events) {
      const text = format(events);
      return commit.write({ text, events: events.length }, text.length);
    },
    close: () => commit.drain(),
    load: () => ({
      queued: commit.pendingBytes,
      limit: opts.max_pending_bytes,
      unit: "bytes",
    }),
    health: () =>
      Promise.resolve(
        broken ? { ok: false, detail: `stdout write failed: ${broken}` } : { ok: true },
      ),
  };
}

/** Registry entry of the stdout sink. */
export const stdoutSink: SinkDefinition<StdoutOptions> = {
  name: "stdout",
  options,
  create: (opts, context) => createStdoutSink(opts, Deno.stdout, context.metrics),
};

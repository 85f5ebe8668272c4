/**
 * The stdout sink: one NDJSON line per event, written to standard output with
 * group commit. A write resolves once its line has been handed to the stdout
 * file descriptor.
 *
 * When stdout is a regular file or `/dev/null`, a write never waits on a
 * reader, and each flush is one synchronous write: an asynchronous one hops
 * to a blocking thread and back, which cost about a fifth of the server CPU
 * per request. A pipe, a socket or a terminal can hold a write while its reader is
 * slow, so there the flush stays asynchronous and a slow reader gets 503s
 * past `max_pending_bytes` instead of stalling every request.
 *
 * The line is the event's `JSON.stringify`: the bytes pino writes for a flat
 * event object with its level, time and pid off (a test holds the two equal),
 * at a fraction of the cost. Formatting each event through pino took about a
 * fifth of the whole single-event request's CPU and added nothing to the line;
 * pino stays Herald's logger, on stderr.
 *
 * @module
 */
import { fstatSync } from "node:fs";
import { GroupCommit } from "./_group_commit.ts";
import { type ByteWriter, type SyncByteWriter, writeAll, writeAllSync } from "./io.ts";
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

/** `/dev/null`'s device number on Linux: major 1, minor 3. */
const DEV_NULL_RDEV = (1 << 8) | 3;

/**
 * True when this process's stdout is a regular file or `/dev/null`, where a
 * write never waits on a reader (from `fstat` of file descriptor 1, which
 * needs no permission; false wherever that fails).
 */
export function stdoutNeverWaits(): boolean {
  try {
    const stat = fstatSync(1);
    return stat.isFile() || (stat.isCharacterDevice() && stat.rdev === DEV_NULL_RDEV);
  } catch {
    return false;
  }
}

/**
 * This process's stdout as the sink writes it: synchronously where a write
 * never waits on a reader ({@linkcode stdoutNeverWaits}), else asynchronously.
 */
export function stdoutWriter(): ByteWriter | SyncByteWriter {
  return stdoutNeverWaits() ? Deno.stdout : { write: (bytes) => Deno.stdout.write(bytes) };
}

/**
 * Creates a stdout sink writing to `out` (default: {@linkcode stdoutWriter}).
 * A writer with `writeSync` is written synchronously: pass one only where a
 * write never waits on a reader.
 */
export function createStdoutSink(
  opts: StdoutOptions,
  out: ByteWriter | SyncByteWriter = stdoutWriter(),
  metrics: SinkMetrics = NO_SINK_METRICS,
): Sink {
  const format = (events: readonly Event[]): string => {
    let text = "";
    for (const event of events) text += JSON.stringify(event) + "\n";
    return text;
  };
  const encoder = new TextEncoder();
  const sync = "writeSync" in out ? out : null;
  let broken: unknown = null;
  const commit = new GroupCommit<{ text: string; events: number }>(async (items) => {
    const started = performance.now();
    try {
      const bytes = encoder.encode(items.map((i) => i.text).join(""));
      if (sync) writeAllSync(sync, bytes);
      else await writeAll(out, bytes);
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
  create: (opts, context) => createStdoutSink(opts, stdoutWriter(), context.metrics),
};

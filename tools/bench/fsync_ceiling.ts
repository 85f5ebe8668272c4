/**
 * The bench's ceiling for a durable local sink: a bare `Deno.serve` that
 * appends one JSON line per request to a file and answers only after the
 * line is fsynced, with the group commit the Parquet sink's write-ahead log
 * uses (one `fdatasync` carries every line that arrived meanwhile). Its rate
 * is the disk's fsync rate times the lines each fsync carries: what any
 * sink that answers after an fsync can reach on this machine.
 *
 * `GET /metrics` answers the flush counters under the names Herald uses
 * (`herald_sink_flush_events_sum` and `_count`, sink `fsync`), so the bench
 * reads events per fsync the same way from both.
 *
 * ```sh
 * deno run --allow-net --allow-read --allow-write tools/bench/fsync_ceiling.ts \
 *   --port 8000 --file /tmp/ceiling.log
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { GroupCommit } from "../../sinks/_group_commit.ts";
import { writeAllSync } from "../../sinks/io.ts";
import { CEILING_BODY } from "./ceiling.ts";

/** Flushes made and the lines they carried. */
export interface FlushCounts {
  flushes: number;
  events: number;
}

/** The counters in Prometheus text, under Herald's metric names. */
export function flushMetrics(counts: FlushCounts, sink = "fsync"): string {
  return [
    `herald_sink_flush_events_sum{sink="${sink}"} ${counts.events}`,
    `herald_sink_flush_events_count{sink="${sink}"} ${counts.flushes}`,
    "",
  ].join("\n");
}

/** Serves on `hostname:port`, appending to `file`; resolves once it listens. */
export async function serveFsyncCeiling(
  options: { port: number; file: string; hostname?: string },
): Promise<{ server: Deno.HttpServer; counts: FlushCounts; close(): Promise<void> }> {
  const file = await Deno.open(options.file, { write: true, create: true, append: true });
  const counts: FlushCounts = { flushes: 0, events: 0 };
  const encoder = new TextEncoder();
  const commit = new GroupCommit<string>(async (lines) => {
    writeAllSync(file, encoder.encode(lines.join("")));
    await file.syncData();
    counts.flushes++;
    counts.events += lines.length;
  }, { maxPendingBytes: 16 * 1024 * 1024 });
  const body = encoder.encode(CEILING_BODY);
  const headers = { "content-type": "text/plain; charset=UTF-8" };
  const server = Deno.serve({
    port: options.port,
    hostname: options.hostname ?? "127.0.0.1",
    onListen: ({ hostname, port }) =>
      console.error(`fsync ceiling listening on ${hostname}:${port}`),
  }, async (request) => {
    if (new URL(request.url).pathname === "/metrics") {
      return new Response(flushMetrics(counts), { headers: { "content-type": "text/plain" } });
    }
    // About the size of the line Herald logs for one event.
    const line = JSON.stringify({
      url: request.url,
      received_at: new Date().toISOString(),
      request_id: crypto.randomUUID(),
      host: request.headers.get("host"),
      user_agent: request.headers.get("user-agent"),
    }) + "\n";
    await commit.write(line, line.length);
    return new Response(body, { headers });
  });
  return {
    server,
    counts,
    async close() {
      await server.shutdown();
      await commit.drain();
      file.close();
    },
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      port: { type: "string", default: "8000" },
      file: { type: "string" },
      hostname: { type: "string" },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`Invalid port "${values.port}": expected a number from 0 to 65535`);
    Deno.exit(1);
  }
  if (!values.file) {
    console.error("Missing --file: the file each request's line is appended to");
    Deno.exit(1);
  }
  const ceiling = await serveFsyncCeiling({ port, file: values.file, hostname: values.hostname });
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(signal, () => void ceiling.close().then(() => Deno.exit(0)));
  }
}

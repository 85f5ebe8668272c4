/**
 * The whole `BENCHMARKS.md` text of a run.
 *
 * @module
 */
import { formatWall } from "./format.ts";
import type { RunFacts, TargetResult } from "./results.ts";
import {
  formatCpuTable,
  formatFlushTable,
  formatSoakTable,
  formatTable,
  markdownTable,
  wrapText,
} from "./tables.ts";
import { formatVerdict, verdicts } from "./verdicts.ts";

/** The whole BENCHMARKS.md text; `chartPath` is relative to the Markdown file. */
export function renderMarkdown(
  results: readonly TargetResult[],
  facts: RunFacts,
  chartPath: string,
): string {
  const machine = markdownTable(["fact", "value"], [
    ["cores (`nproc`)", String(facts.cores)],
    ...(facts.cpu === undefined ? [] : [["CPU", facts.cpu]]),
    ...(facts.loadAverage === undefined
      ? []
      : [["load average at start", `${facts.loadAverage} (1, 5, 15 min)`]]),
    ["Deno", facts.deno],
    ["kernel", facts.kernel],
    ["date", facts.date],
    ["command", `\`${facts.command}\``],
    ["load tool", facts.loadTool],
    [
      "closed loop",
      `${facts.concurrency} connections, ${facts.durationS} s per target after a ${facts.warmupS} s warm-up`,
    ],
    ["open loop", `fixed rate at half of each target's own max req/s, ${facts.durationS} s`],
    ["wall time", `${formatWall(facts.wallS)}${facts.quick ? " (`--quick`)" : ""}`],
  ]);
  const bullet = (text: string) => wrapText(text, "- ", "  ");
  const lines = [
    "# Benchmarks",
    "",
    wrapText(
      "Written by `deno task bench` (`tools/bench/main.ts`). One command, one run, one machine: it " +
        "starts every server and the Kafka broker itself, drives each with the same load tool and " +
        "the same request (`GET /purchase_a_sword`, or `POST /events` for the batch route), and " +
        "stops them.",
    ),
    "",
    machine,
    "",
    "## Results",
    "",
    formatTable(results, facts.concurrency),
    "",
    bullet(
      `**req/s** and **events/s**: 2xx answers per second with ${facts.concurrency} connections ` +
        "in a closed loop (each sends its next request when the previous one is answered): the " +
        "max rate.",
    ),
    bullet(
      "**req/s vs ceiling**: Herald's req/s over the bare `Deno.serve` ceiling's. **events/s vs " +
        "seeds**: Herald's events/s over the seeds' Flask app (one event per request).",
    ),
    bullet(
      "**p50/p99**: latency in an open loop (requests sent at a fixed rate whatever the answers, " +
        "timed from when each was due) at half of that target's own max req/s.",
    ),
    bullet(
      "**tool lag p99**: the load tool's own delay in sending a due request once a connection was " +
        "free (its timers, its event loop), at p99; it is inside p99, so a p99 far above it was " +
        "spent in the server or waiting for a free connection.",
    ),
    bullet(
      "**server CPU**: CPU time of the server process during the closed loop, as a share of one " +
        "core (from `/proc/<pid>/stat`); near 100% means a single-threaded server was the " +
        "bottleneck, well below it means the load tool or the sink's I/O was.",
    ),
    bullet(
      "**peak RSS**: the highest `VmHWM` or `VmRSS` of the server process from " +
        "`/proc/<pid>/status`, polled every 100 ms through the warm-up, max-rate and open-loop " +
        "runs (MB = 10^6 bytes). Herald is spawned as `deno run ... main.ts`, so this is the " +
        "server itself, not a `deno task` wrapper.",
    ),
    bullet(
      "**start to 2xx**: from spawning the process to its first 200 on `GET /`, polled every 5 ms.",
    ),
    "",
    "## Where the CPU goes",
    "",
    formatCpuTable(results, facts.cores),
    "",
    bullet(
      "CPU time (user + system, from `/proc/<pid>/stat`) of each process on the request path " +
        "during the closed loop, divided by the events it carried (requests for the ceiling). " +
        "The load tool runs inside the bench's own process. The last column is the most the " +
        "machine could do if those processes had every core to themselves: a row whose target " +
        "lies above it cannot be met by tuning the server alone.",
    ),
    "",
    ...(results.some((r) => r.flushes)
      ? [
        "## Flushes: events per fsync",
        "",
        formatFlushTable(results),
        "",
        bullet(
          "From each server's `/metrics` (`herald_sink_flush_events`) before and after the closed " +
            "loop. A flush is one `fdatasync` of the Parquet sink's write-ahead log or of the fsync " +
            "ceiling's file (a bare `Deno.serve` that appends each request's line to a file with " +
            "the same group commit, `tools/bench/fsync_ceiling.ts`), one stdout write, one Kafka " +
            "Produce request. A sink that answers after an fsync cannot beat the disk's fsync rate " +
            "times the events each fsync carries: the fsync ceiling is that limit on this machine.",
        ),
        "",
      ]
      : []),
    ...(results.some((r) => r.soak)
      ? [
        "## Memory over a soak at max rate",
        "",
        formatSoakTable(results),
        "",
        bullet(
          "After the row's own runs, the same closed loop for the soak's length, with the " +
            "server's `VmRSS` read every 5 s (`deno task bench --soak <s>`). Flat means the end " +
            "and each minute's highest stay near the start: nothing grows with the events carried.",
        ),
        "",
      ]
      : []),
    "## Targets",
    "",
    ...verdicts(results).map((v) => bullet(formatVerdict(v, true))),
    "",
    `![Throughput and p99 latency per target](${chartPath})`,
    "",
    "## Fairness notes",
    "",
    bullet(
      "Herald answers only once every sink has the event: the stdout sink has written the line " +
        "(to `/dev/null` here), the Parquet sink has it in an fsynced write-ahead log (in a temp " +
        "lake), and Kafka has acked it with `acks=all`.",
    ),
    bullet(
      "The seeds' app calls kafka-python's `producer.send()`, which is asynchronous: it answers " +
        "before Kafka has the event, and the seeds never waited for acks. Its events/s counts " +
        "answers, not acked events. It runs on Flask's builtin threaded server (the `flask run` " +
        "equivalent), with Flask's access log on stderr, as the seeds ran it.",
    ),
    bullet(
      `The load tool, the server and (for Kafka rows) the broker share this machine's ` +
        `${facts.cores} cores, so absolute numbers are lower than on a dedicated server; ratios ` +
        "between rows measured in the same run are the meaningful part. Open-loop latency at high " +
        "rates includes the load tool's own scheduling delay, as it paces requests with timers " +
        "on a shared core.",
    ),
    ...(facts.notices.length === 0 ? [] : ["", "## Run notes", "", ...facts.notices.map(bullet)]),
    "",
  ];
  return lines.join("\n");
}

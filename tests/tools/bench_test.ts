import assert from "node:assert/strict";
import {
  BATCH_SIZE,
  COLORS,
  escapeXml,
  flushMetrics,
  formatCount,
  formatCpuTable,
  formatFlushTable,
  formatMs,
  formatPercent,
  formatSoakTable,
  formatTable,
  formatTimes,
  formatVerdict,
  markdownTable,
  type Measurement,
  parseBenchArgs,
  ratio,
  readFlushes,
  renderChart,
  renderMarkdown,
  type RunFacts,
  serveFsyncCeiling,
  TARGET_IDS,
  type TargetResult,
  verdicts,
  vsCeiling,
  vsSeeds,
  wrapText,
} from "../../tools/bench/mod.ts";
import { readCpuSeconds, readOwnCpuSeconds } from "../../tools/bench/proc.ts";
import { waitFor } from "../_testing.ts";

const ROOT = new URL("../..", import.meta.url).pathname;

function measured(requestsPerS: number, eventsPerS: number | null, p99Ms = 5): Measurement {
  return {
    requestsPerS,
    eventsPerS,
    requests: requestsPerS * 10,
    errors: 0,
    durationS: 10,
    p50Ms: 1,
    p99Ms,
    sendLagP99Ms: 0.5,
  };
}

function row(
  id: string,
  kind: TargetResult["kind"],
  requestsPerS: number,
  extra: Partial<TargetResult> = {},
): TargetResult {
  const eventsPerRequest = extra.eventsPerRequest ?? 1;
  return {
    id,
    label: id,
    kind,
    eventsPerRequest,
    max: measured(requestsPerS, kind === "ceiling" ? null : requestsPerS * eventsPerRequest),
    paced: { ...measured(requestsPerS / 2, null), rate: Math.floor(requestsPerS / 2) },
    ...extra,
  };
}

/** A full run where every issue target is met exactly at its threshold. */
function atThresholds(): TargetResult[] {
  return [
    row("ceiling", "ceiling", 7_500),
    row("stdout", "herald", 4_500, {
      rssPeakMb: 150,
      startMs: 500,
      paced: { ...measured(2_000, 2_000, 10), rate: 2_000 },
    }),
    row("fsync", "ceiling", 5_000),
    row("parquet", "herald", 4_000, {
      rssPeakMb: 150,
      startMs: 500,
      paced: { ...measured(2_000, 2_000, 10), rate: 2_000 },
      soak: {
        durationS: 300,
        requestsPerS: 4_000,
        errors: 0,
        startMb: 100,
        peakMb: 150,
        endMb: 110,
        perMinuteMb: [100, 150, 110, 110, 110],
      },
    }),
    row("kafka", "herald", 3_000, {
      rssPeakMb: 120,
      startMs: 300,
      paced: { ...measured(2_000, 2_000, 10), rate: 2_000 },
    }),
    row("batch", "herald", 2_000, { eventsPerRequest: 100, rssPeakMb: 140, startMs: 310 }),
    row("seeds", "seeds", 100),
  ];
}

const FACTS: RunFacts = {
  cores: 2,
  cpu: "Test CPU",
  loadAverage: "0.10 0.20 0.30",
  deno: "2.9.6",
  kernel: "Linux 6.1.0",
  date: "2026-11-23T21:30:30Z",
  command: "deno task bench",
  loadTool: "`tools/load/`",
  concurrency: 50,
  durationS: 12,
  warmupS: 3,
  wallS: 312,
  quick: false,
  notices: ["The seeds' row was skipped: a reason that is long enough to be wrapped by the bench."],
};

Deno.test("bench formats counts, milliseconds, shares and multiples", () => {
  assert.equal(formatCount(15670.4), "15,670");
  assert.equal(formatCount(999), "999");
  assert.equal(formatCount(1_234_567), "1,234,567");
  assert.equal(formatMs(0.4567), "0.46");
  assert.equal(formatMs(18.74), "18.7");
  assert.equal(formatMs(127.4), "127");
  assert.equal(formatPercent(0.374), "37%");
  assert.equal(formatTimes(11.04), "11.0x");
  assert.equal(formatTimes(375.2), "375x");
});

Deno.test("bench ratios compare req/s with the ceiling and events/s with the seeds", () => {
  assert.equal(ratio(1, 0), null);
  assert.equal(ratio(undefined, 2), null);
  assert.equal(ratio(3, 2), 1.5);
  const ceiling = row("ceiling", "ceiling", 40_000);
  const seeds = row("seeds", "seeds", 400);
  const batch = row("batch", "herald", 1_000, { eventsPerRequest: 100 });
  assert.equal(vsCeiling(batch, ceiling), 1_000 / 40_000);
  assert.equal(vsSeeds(batch, seeds), 100_000 / 400);
  assert.equal(vsCeiling(batch, undefined), null);
});

Deno.test("bench verdicts pass exactly at every threshold", () => {
  const list = verdicts(atThresholds());
  assert.deepEqual(
    list.map((v) => [v.name, v.pass]),
    [
      ["stdout sink >= 60% of ceiling req/s", true],
      ["Parquet sink >= 80% of fsync ceiling req/s", true],
      ["stdout sink with --workers 2 > --workers 1 req/s", null],
      ["stdout sink with --live, no viewer >= 95% of stdout req/s", null],
      ["stdout sink with --live and 1 viewer >= 90% of stdout req/s", null],
      ["Kafka sink >= 40% of ceiling req/s", true],
      ["Kafka sink >= 30x seeds events/s", true],
      ["batch route -> Kafka >= 200,000 events/s", true],
      ["p99 at half max rate <= 10 ms with the stdout sink", true],
      ["p99 at half max rate <= 10 ms with the Parquet sink", true],
      ["p99 at half max rate <= 10 ms with the Kafka sink", true],
      ["stdout: server RSS at max rate <= 150 MB", true],
      ["parquet: server RSS at max rate <= 150 MB", true],
      ["kafka: server RSS at max rate <= 150 MB", true],
      ["batch: server RSS at max rate <= 150 MB", true],
      ["parquet: RSS <= 150 MB and flat (end within 10% of start) over a 300 s soak", true],
      ["stdout: process start to first 2xx <= 500 ms", true],
      ["parquet: process start to first 2xx <= 500 ms", true],
      ["kafka: process start to first 2xx <= 500 ms", true],
      ["batch: process start to first 2xx <= 500 ms", true],
    ],
  );
  assert.equal(
    formatVerdict(list[0]!),
    "PASS  stdout sink >= 60% of ceiling req/s: 60% (4,500 vs 7,500 req/s)",
  );
});

Deno.test("bench verdicts fail just past every threshold and skip what was not measured", () => {
  const results = atThresholds().map((r): TargetResult => {
    if (r.id === "stdout") {
      return { ...r, max: measured(4_490, 4_490), rssPeakMb: 151, startMs: 501 };
    }
    if (r.id === "kafka") {
      return {
        ...r,
        max: measured(2_990, 2_990),
        paced: { ...measured(2_000, 2_000, 10.5), rate: 2_000 },
      };
    }
    if (r.id === "batch") return { ...r, max: measured(1_999, 199_900) };
    if (r.id === "parquet") {
      return {
        ...r,
        max: measured(3_990, 3_990),
        paced: { ...measured(2_000, 2_000, 10.5), rate: 2_000 },
        soak: { ...r.soak!, endMb: 110.5 },
      };
    }
    return r;
  });
  const byName = new Map(verdicts(results).map((v) => [v.name, v]));
  for (
    const name of [
      "stdout sink >= 60% of ceiling req/s",
      "Kafka sink >= 40% of ceiling req/s",
      "Kafka sink >= 30x seeds events/s",
      "batch route -> Kafka >= 200,000 events/s",
      "p99 at half max rate <= 10 ms with the Kafka sink",
      "p99 at half max rate <= 10 ms with the Parquet sink",
      "Parquet sink >= 80% of fsync ceiling req/s",
      "parquet: RSS <= 150 MB and flat (end within 10% of start) over a 300 s soak",
      "stdout: server RSS at max rate <= 150 MB",
      "stdout: process start to first 2xx <= 500 ms",
    ]
  ) {
    assert.equal(byName.get(name)?.pass, false, name);
  }
  assert.match(formatVerdict(byName.get("stdout sink >= 60% of ceiling req/s")!), /^FAIL {2}/);

  const partial = verdicts([
    row("ceiling", "ceiling", 7_500),
    { ...row("seeds", "seeds", 0), max: undefined, paced: undefined, skipped: "no flask" },
  ]);
  assert.ok(partial.length > 0 && partial.every((v) => v.pass === null), "all SKIP");
  assert.match(formatVerdict(partial[0]!), /^SKIP {2}.*not measured \(stdout\)$/);
});

Deno.test("bench table lines up columns, right-aligns numbers and dashes skipped rows", () => {
  assert.equal(
    markdownTable(["name", "n"], [["a", "1,000"], ["bbbb", "5"]]),
    [
      "| name |     n |",
      "| ---- | ----: |",
      "| a    | 1,000 |",
      "| bbbb |     5 |",
    ].join("\n"),
  );
  const results = [
    ...atThresholds(),
    { id: "skipped", label: "skipped", kind: "herald" as const, eventsPerRequest: 1, skipped: "x" },
  ];
  const table = formatTable(results, 50).split("\n");
  assert.equal(table.length, 2 + results.length);
  assert.ok(table[0]!.includes("req/s (c=50)"));
  const widths = new Set(table.map((l) => [...l].length));
  assert.equal(widths.size, 1, "every line has the same width");
  const batch = table.find((l) => l.startsWith("| batch "))!;
  assert.match(batch, /\| +0\.50 \|/, "the load tool's own send lag");
  assert.ok(batch.includes("200,000"), batch);
  assert.ok(batch.includes("27%"), "req/s vs ceiling");
  assert.ok(batch.includes("2000x"), "events/s vs seeds");
  const skipped = table.find((l) => l.startsWith("| skipped "))!;
  assert.equal(skipped.split("—").length - 1, 12);
});

Deno.test("bench CPU table sums each process's µs per event and the rate that allows", () => {
  const results: TargetResult[] = [
    row("ceiling", "ceiling", 7_500, { cpuUs: { server: 14, load: 20 } }),
    row("kafka", "herald", 3_000, { cpuUs: { server: 70, broker: 30, load: 25 } }),
    row("stdout", "herald", 4_500),
  ];
  const table = formatCpuTable(results, 2).split("\n");
  assert.equal(table.length, 4, "rows without CPU figures are left out");
  assert.ok(table[0]!.includes("events/s the sum allows on 2 cores"));
  const cells = (label: string) =>
    table.find((l) => l.startsWith(`| ${label} `))!.split("|").slice(2, -1).map((c) => c.trim());
  assert.deepEqual(cells("ceiling"), ["14.0", "—", "20.0", "34.0", "58,824"]);
  assert.deepEqual(cells("kafka"), ["70.0", "30.0", "25.0", "125.0", "16,000"]);
});

Deno.test("bench flush and soak tables: events per flush, share of the fsync ceiling, RSS", () => {
  const results = atThresholds().map((r): TargetResult =>
    r.id === "fsync"
      ? { ...r, flushes: { perS: 250, eventsPerFlush: 20 } }
      : r.id === "parquet"
      ? { ...r, flushes: { perS: 200, eventsPerFlush: 20 }, rssIdleMb: 70 }
      : r
  );
  const flushes = formatFlushTable(results).split("\n");
  assert.equal(flushes.length, 4, "rows without flush figures are left out");
  const cells = (table: string[], label: string) =>
    table.find((l) => l.startsWith(`| ${label} `))!.split("|").slice(2, -1).map((c) => c.trim());
  assert.deepEqual(cells(flushes, "fsync"), ["5,000", "250", "20.0", "—"]);
  assert.deepEqual(cells(flushes, "parquet"), ["4,000", "200", "20.0", "80%"]);
  const soak = formatSoakTable(results).split("\n");
  assert.equal(soak.length, 3);
  assert.deepEqual(cells(soak, "parquet"), [
    "5.0 min",
    "4,000",
    "0",
    "70",
    "100",
    "150",
    "110",
    "100, 150, 110, 110, 110",
  ]);
});

Deno.test("bench fsync ceiling answers after its lines are fsynced and counts its flushes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "herald-bench-fsync-test-" });
  const file = `${dir}/ceiling.log`;
  const ceiling = await serveFsyncCeiling({ port: 0, file });
  try {
    const { port } = ceiling.server.addr as Deno.NetAddr;
    const url = `http://127.0.0.1:${port}`;
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => fetch(`${url}/purchase_a_sword?n=${i}`)),
    );
    for (const res of answers) {
      assert.equal(res.status, 200);
      assert.equal(await res.text(), "Sword Purchased!\n");
    }
    const lines = (await Deno.readTextFile(file)).trimEnd().split("\n");
    assert.equal(lines.length, 20, "every answered request's line is in the file");
    const urls = lines.map((l) => new URL(JSON.parse(l).url).searchParams.get("n")).sort();
    assert.deepEqual(urls, Array.from({ length: 20 }, (_, i) => String(i)).sort());
    const counts = await readFlushes(url, "fsync");
    assert.equal(counts?.events, 20);
    assert.ok(counts!.flushes >= 1 && counts!.flushes < 20, `group commit: ${counts!.flushes}`);
    assert.equal(await readFlushes(url, "parquet"), null, "another sink's counters are absent");
  } finally {
    await ceiling.close();
    await Deno.remove(dir, { recursive: true });
  }
  assert.equal(
    flushMetrics({ flushes: 2, events: 7 }, "parquet"),
    'herald_sink_flush_events_sum{sink="parquet"} 7\n' +
      'herald_sink_flush_events_count{sink="parquet"} 2\n',
  );
});

Deno.test("bench wraps prose like deno fmt and writes Markdown that deno fmt keeps as is", async () => {
  assert.equal(wrapText("aa bb cc", "- ", "  ", 7), "- aa bb\n  cc");
  assert.equal(wrapText("word", "", "", 2), "word");
  assert.equal(wrapText("a `b c` d", "", "", 4), "a\n`b c`\nd", "code spans stay whole");
  const dir = await Deno.makeTempDir({ prefix: "herald-bench-test-" });
  try {
    const path = `${dir}/BENCHMARKS.md`;
    const text = renderMarkdown(atThresholds(), FACTS, "BENCHMARKS.svg");
    assert.ok(text.includes("| cores (`nproc`)"));
    assert.ok(text.includes("`deno task bench`"));
    assert.ok(text.includes("- **PASS** stdout sink >= 60% of ceiling req/s"));
    assert.ok(text.includes("![Throughput and p99 latency per target](BENCHMARKS.svg)"));
    assert.ok(text.includes("asynchronous"), "the kafka-python fairness note");
    await Deno.writeTextFile(path, text);
    const check = await new Deno.Command(Deno.execPath(), {
      args: ["fmt", "--check", "--config", `${ROOT}deno.json`, path],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(check.success, new TextDecoder().decode(check.stderr));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bench chart is an SVG document with a bar per measured target and the p99 target", () => {
  assert.equal(escapeXml(`a<b & "c"`), "a&#60;b &#38; &#34;c&#34;");
  const results = [
    ...atThresholds(),
    { id: "skipped", label: "skipped", kind: "herald" as const, eventsPerRequest: 1, skipped: "x" },
  ];
  const svg = renderChart(results, "Herald bench <test>");
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="1200" height="\d+"/);
  assert.ok(svg.trimEnd().endsWith("</svg>"));
  assert.ok(svg.includes("<title>Herald bench &#60;test&#62;</title>"), "the title is escaped");
  const bars = (color: string) => svg.split(`fill="${color}"`).length - 1;
  assert.equal(bars(COLORS.herald), 2 * 4, "stdout, parquet, kafka and batch in both panels");
  assert.equal(bars(COLORS.seeds), 2);
  assert.equal(bars(COLORS.ceiling), 2 * 2, "both ceilings");
  assert.ok(!svg.includes(">skipped<"), "skipped targets are left out");
  assert.ok(svg.includes("2,000 req/s = 200,000 events/s"), "the batch caption");
  assert.ok(svg.includes("10 ms target") && svg.includes('stroke-dasharray="5 3"'));
});

Deno.test("bench flags: defaults, quick mode, --only and bad values", () => {
  const full = parseBenchArgs([]);
  assert.notEqual(full, "help");
  if (full === "help") return;
  assert.deepEqual(full, {
    quick: false,
    out: null,
    durationS: 12,
    warmupS: 3,
    concurrency: 50,
    only: [...TARGET_IDS],
    soakS: 300,
  });
  const quick = parseBenchArgs(["--quick", "--only", "stdout,ceiling", "--concurrency", "8"]);
  assert.notEqual(quick, "help");
  if (quick === "help") return;
  assert.equal(quick.durationS, 3);
  assert.deepEqual(quick.only, ["ceiling", "stdout"], "run order, not flag order");
  assert.equal(quick.concurrency, 8);
  assert.equal(quick.soakS, 0, "no soak in a quick run");
  const soaked = parseBenchArgs(["--soak", "30"]);
  assert.ok(soaked !== "help" && soaked.soakS === 30);
  const none = parseBenchArgs(["--soak", "0"]);
  assert.ok(none !== "help" && none.soakS === 0);
  assert.throws(() => parseBenchArgs(["--soak", "soon"]), /Invalid --soak "soon"/);
  assert.equal(parseBenchArgs(["--help"]), "help");
  assert.throws(() => parseBenchArgs(["--only", "ceiling,nginx"]), /Unknown target "nginx"/);
  assert.throws(() => parseBenchArgs(["--duration", "0"]), /Invalid --duration "0"/);
  assert.throws(() => parseBenchArgs(["--concurrency", "2.5"]), /positive integer/);
  assert.throws(() => parseBenchArgs(["--bogus"]), /bogus/);
  assert.equal(BATCH_SIZE, 100);
});

Deno.test("bench --quick --only ceiling,stdout writes both rows and stops its servers", async () => {
  const dir = await Deno.makeTempDir({ prefix: "herald-bench-smoke-" });
  try {
    const out = `${dir}/BENCH.md`;
    const result = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        `${ROOT}tools/bench/main.ts`,
        "--quick",
        "--only",
        "ceiling,stdout",
        "--out",
        out,
      ],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      // Ends a hung bench, so the test fails instead of hanging; asserts no speed.
      signal: AbortSignal.timeout(600_000),
    }).output();
    const stdout = new TextDecoder().decode(result.stdout);
    const stderr = new TextDecoder().decode(result.stderr);
    assert.equal(result.code, 0, stderr);
    const text = await Deno.readTextFile(out);
    const lines = text.split("\n");
    for (const label of ["ceiling (bare Deno.serve)", "Herald, stdout sink"]) {
      const line = lines.find((l) => l.startsWith(`| ${label}`));
      assert.ok(line, `a row for ${label}`);
      assert.match(line!, /\|\s+\d[\d,]*\s+\|/, `${label} has a req/s figure`);
      assert.ok(stdout.includes(`| ${label}`), "the table is printed too");
    }
    assert.match(text, /\| cores \(`nproc`\)\s+\| \d+/);
    const stages = text.slice(text.indexOf("## The single-event route, stage by stage"));
    assert.match(stages, /\| whole request in-process [^|]*\|\s+\d+\.\d\d \|/);
    assert.match(stages, /\| stdout sink: the line [^|]*\|\s+\d+\.\d\d \|/);
    assert.match(stdout, /^(PASS|FAIL) {2}stdout sink >= 60% of ceiling req\/s: /m);
    assert.match(stdout, /^SKIP {2}batch route -> Kafka/m);
    const svg = await Deno.readTextFile(`${dir}/BENCH.svg`);
    assert.ok(svg.startsWith("<svg ") && svg.includes("Herald, stdout sink"), "the chart");
    const pids = [...stderr.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1]));
    assert.equal(pids.length, 2, stderr);
    for (const pid of pids) {
      const gone = await Deno.stat(`/proc/${pid}`).then(() => false, () => true);
      assert.ok(gone, `server pid ${pid} was stopped`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bench CPU: a process's own seconds leave out its children's, the tree's include them", async () => {
  // A child that burns CPU until it is killed: on a loaded machine it gets less than a core.
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "for (;;);"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await waitFor(() => (readOwnCpuSeconds(child.pid) ?? 0) >= 0.3, {
      what: "the child's CPU",
      timeoutMs: 60_000,
    });
    const own = readOwnCpuSeconds(Deno.pid)!;
    const tree = readCpuSeconds(Deno.pid)!;
    assert.ok(tree - own >= 0.3, `tree ${tree} s, own ${own} s`);
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
});

Deno.test("bench verdicts on --live: within noise of stdout without a viewer, reported with one", () => {
  const live = (noViewer: number, oneViewer: number) =>
    new Map(
      verdicts([
        ...atThresholds(),
        row("stdout-live", "herald", noViewer),
        row("stdout-viewer", "herald", oneViewer),
      ]).map((v) => [v.name, v.pass]),
    );
  const names = [
    "stdout sink with --live, no viewer >= 95% of stdout req/s",
    "stdout sink with --live and 1 viewer >= 90% of stdout req/s",
  ];
  const exact = live(4_275, 4_050);
  assert.deepEqual(names.map((n) => exact.get(n)), [true, true]);
  const under = live(4_270, 4_040);
  assert.deepEqual(names.map((n) => under.get(n)), [false, false]);
  const skipped = new Map(verdicts(atThresholds()).map((v) => [v.name, v.pass]));
  assert.deepEqual(names.map((n) => skipped.get(n)), [null, null]);
});

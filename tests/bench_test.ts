import assert from "node:assert/strict";
import { BATCH_SIZE, parseBenchArgs, TARGET_IDS } from "../tools/bench.ts";
import {
  Canvas,
  crc32,
  encodePng,
  PNG_SIGNATURE,
  textWidth,
  zlibCompress,
} from "../tools/bench/png.ts";
import {
  formatCount,
  formatCpuTable,
  formatMs,
  formatPercent,
  formatTable,
  formatTimes,
  formatVerdict,
  markdownTable,
  type Measurement,
  ratio,
  renderChart,
  renderMarkdown,
  type RunFacts,
  type TargetResult,
  verdicts,
  vsCeiling,
  vsSeeds,
  wrapText,
} from "../tools/bench/report.ts";

const ROOT = new URL("..", import.meta.url).pathname;

function measured(requestsPerS: number, eventsPerS: number | null, p99Ms = 5): Measurement {
  return {
    requestsPerS,
    eventsPerS,
    requests: requestsPerS * 10,
    errors: 0,
    durationS: 10,
    p50Ms: 1,
    p99Ms,
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
    row("stdout", "herald", 4_500, { rssPeakMb: 150, startMs: 500 }),
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
  loadTool: "`tools/load.ts`",
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
      ["Kafka sink >= 40% of ceiling req/s", true],
      ["Kafka sink >= 30x seeds events/s", true],
      ["batch route -> Kafka >= 200,000 events/s", true],
      ["p99 at half max rate <= 10 ms with the Kafka sink", true],
      ["stdout: server RSS at max rate <= 150 MB", true],
      ["kafka: server RSS at max rate <= 150 MB", true],
      ["batch: server RSS at max rate <= 150 MB", true],
      ["stdout: process start to first 2xx <= 500 ms", true],
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
    { id: "parquet", label: "parquet", kind: "herald" as const, eventsPerRequest: 1, skipped: "x" },
  ];
  const table = formatTable(results, 50).split("\n");
  assert.equal(table.length, 2 + results.length);
  assert.ok(table[0]!.includes("req/s (c=50)"));
  const widths = new Set(table.map((l) => [...l].length));
  assert.equal(widths.size, 1, "every line has the same width");
  const batch = table.find((l) => l.startsWith("| batch "))!;
  assert.ok(batch.includes("200,000"), batch);
  assert.ok(batch.includes("27%"), "req/s vs ceiling");
  assert.ok(batch.includes("2000x"), "events/s vs seeds");
  const parquet = table.find((l) => l.startsWith("| parquet "))!;
  assert.equal(parquet.split("—").length - 1, 11);
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

Deno.test("bench wraps prose like deno fmt and writes Markdown that deno fmt keeps as is", async () => {
  assert.equal(wrapText("aa bb cc", "- ", "  ", 7), "- aa bb\n  cc");
  assert.equal(wrapText("word", "", "", 2), "word");
  assert.equal(wrapText("a `b c` d", "", "", 4), "a\n`b c`\nd", "code spans stay whole");
  const dir = await Deno.makeTempDir({ prefix: "herald-bench-test-" });
  try {
    const path = `${dir}/BENCHMARKS.md`;
    const text = renderMarkdown(atThresholds(), FACTS, "BENCHMARKS.png");
    assert.ok(text.includes("| cores (`nproc`)"));
    assert.ok(text.includes("`deno task bench`"));
    assert.ok(text.includes("- **PASS** stdout sink >= 60% of ceiling req/s"));
    assert.ok(text.includes("![Throughput and p99 latency per target](BENCHMARKS.png)"));
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

Deno.test("bench CRC-32 matches the standard check value", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
  const all = new TextEncoder().encode("IEND");
  assert.equal(crc32(all), 0xae426082, "the CRC every PNG ends with");
});

async function inflate(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

interface Chunk {
  type: string;
  data: Uint8Array;
}

function readChunks(png: Uint8Array): Chunk[] {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const chunks: Chunk[] = [];
  let at = PNG_SIGNATURE.length;
  while (at < png.length) {
    const length = view.getUint32(at);
    const type = new TextDecoder().decode(png.subarray(at + 4, at + 8));
    const data = png.subarray(at + 8, at + 8 + length);
    assert.equal(view.getUint32(at + 8 + length), crc32(png.subarray(at + 4, at + 8 + length)));
    chunks.push({ type, data });
    at += 12 + length;
  }
  assert.equal(at, png.length, "no trailing bytes");
  return chunks;
}

Deno.test("bench zlib stream from CompressionStream inflates back", async () => {
  const input = new TextEncoder().encode("Sword Purchased!\n".repeat(100));
  const z = await zlibCompress(input);
  assert.equal(z[0], 0x78, "zlib header (RFC 1950), not raw deflate or gzip");
  assert.ok(z.length < input.length);
  assert.deepEqual(await inflate(z), input);
});

Deno.test("bench PNG has signature, IHDR, IDAT that inflates to the pixels, and IEND", async () => {
  const canvas = new Canvas(7, 3, [255, 255, 255]);
  canvas.fillRect(1, 1, 2, 1, [47, 111, 181]);
  const png = await encodePng(canvas);
  assert.deepEqual(png.subarray(0, 8), PNG_SIGNATURE);
  const chunks = readChunks(png);
  assert.deepEqual(chunks.map((c) => c.type), ["IHDR", "IDAT", "IEND"]);
  const ihdr = new DataView(chunks[0]!.data.buffer, chunks[0]!.data.byteOffset, 13);
  assert.equal(chunks[0]!.data.length, 13);
  assert.equal(ihdr.getUint32(0), 7, "width");
  assert.equal(ihdr.getUint32(4), 3, "height");
  assert.deepEqual([...chunks[0]!.data.subarray(8)], [8, 2, 0, 0, 0], "8-bit RGB, no interlace");
  assert.equal(chunks[2]!.data.length, 0);
  const raw = await inflate(chunks[1]!.data);
  assert.equal(raw.length, 3 * (1 + 7 * 3));
  for (let row = 0; row < 3; row++) {
    assert.equal(raw[row * 22], 0, "filter type 0");
    assert.deepEqual(
      raw.subarray(row * 22 + 1, (row + 1) * 22),
      canvas.pixels.subarray(row * 21, (row + 1) * 21),
    );
  }
  assert.deepEqual(canvas.pixel(1, 1), [47, 111, 181]);
  assert.deepEqual(canvas.pixel(3, 1), [255, 255, 255]);
  await assert.rejects(
    () => encodePng({ width: 2, height: 2, pixels: new Uint8Array(5) }),
    /Invalid pixel buffer of 5 bytes: expected 12/,
  );
});

Deno.test("bench text and chart draw with the built-in font", async () => {
  const canvas = new Canvas(40, 20);
  canvas.text(1, 1, "I", [0, 0, 0], 1);
  // "I" is a bar with serifs: its top row spans columns 1 to 3 of the glyph.
  assert.deepEqual(canvas.pixel(2, 1), [0, 0, 0]);
  assert.deepEqual(canvas.pixel(1, 1), [255, 255, 255]);
  assert.equal(textWidth("AB", 2), 22);
  const chart = renderChart(atThresholds(), "HERALD BENCH TEST");
  let blue = 0;
  let orange = 0;
  for (let i = 0; i < chart.pixels.length; i += 3) {
    const [r, g, b] = [chart.pixels[i], chart.pixels[i + 1], chart.pixels[i + 2]];
    if (r === 47 && g === 111 && b === 181) blue++;
    if (r === 224 && g === 123 && b === 57) orange++;
  }
  assert.ok(blue > 1000 && orange > 10, `bars drawn (${blue} blue, ${orange} orange)`);
  const png = await encodePng(chart);
  assert.deepEqual(readChunks(png).map((c) => c.type), ["IHDR", "IDAT", "IEND"]);
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
  });
  const quick = parseBenchArgs(["--quick", "--only", "stdout,ceiling", "--concurrency", "8"]);
  assert.notEqual(quick, "help");
  if (quick === "help") return;
  assert.equal(quick.durationS, 3);
  assert.deepEqual(quick.only, ["ceiling", "stdout"], "run order, not flag order");
  assert.equal(quick.concurrency, 8);
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
        `${ROOT}tools/bench.ts`,
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
    assert.match(stdout, /^(PASS|FAIL) {2}stdout sink >= 60% of ceiling req\/s: /m);
    assert.match(stdout, /^SKIP {2}batch route -> Kafka/m);
    const png = await Deno.readFile(`${dir}/BENCH.png`);
    assert.deepEqual(png.subarray(0, 8), PNG_SIGNATURE);
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

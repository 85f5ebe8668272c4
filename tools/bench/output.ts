/**
 * What a bench run leaves behind: `BENCHMARKS.md` (or the `--out` file) with
 * the machine's facts, the tables, the lander's rows, the single-event and
 * batch routes' stages, and the chart beside it as SVG.
 *
 * @module
 */
import { dirname, join, relative, resolve } from "node:path";
import type { BenchOptions } from "./args.ts";
import { renderChart } from "./chart.ts";
import { LANDER_NOTE, renderLander } from "./lander.ts";
import { renderMarkdown } from "./markdown.ts";
import { log, ROOT } from "./process.ts";
import type { RunFacts } from "./results.ts";
import type { BenchRun } from "./run.ts";
import { profileBatchStages, renderStages, STAGES_NOTE } from "./stages.ts";
import {
  profileRequestStages,
  renderRequestStages,
  REQUEST_STAGES_NOTE,
} from "./request_stages.ts";

async function commandOutput(cmd: string, args: string[]): Promise<string | null> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
  } catch {
    return null;
  }
}

async function cpuModel(): Promise<string | null> {
  try {
    const text = await Deno.readTextFile("/proc/cpuinfo");
    return /^model name\s*:\s*(.+)$/m.exec(text)?.[1]?.trim() ?? null;
  } catch {
    return null;
  }
}

function commandLine(args: string[]): string {
  const quoted = args.map((a) => /^[\w.,/=:-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`);
  const head = Deno.env.get("INIT_CWD") !== undefined
    ? "deno task bench"
    : "deno run --allow-all tools/bench/main.ts";
  return [head, ...quoted].join(" ");
}

/** Where the report went, and the run's wall time in seconds. */
export interface Written {
  outPath: string;
  chartPath: string;
  wallS: number;
}

/** Writes the Markdown report and the SVG chart of `run`; `args` are the bench's flags. */
export async function writeReport(
  run: BenchRun,
  options: BenchOptions,
  args: string[],
): Promise<Written> {
  const { results, lander, notices, wallStart } = run;
  let outPath: string;
  if (options.out !== null) outPath = resolve(options.out);
  else if (options.quick) {
    outPath = join(await Deno.makeTempDir({ prefix: "herald-bench-" }), "BENCHMARKS.md");
  } else outPath = join(ROOT, "BENCHMARKS.md");
  const chartPath = outPath.replace(/(\.md)?$/, ".svg");

  const cores = Number(await commandOutput("nproc", [])) || navigator.hardwareConcurrency;
  const cpu = await cpuModel();
  const facts: RunFacts = {
    cores,
    cpu: cpu ?? undefined,
    loadAverage: run.loadAverage ?? undefined,
    deno: Deno.version.deno,
    kernel: (await commandOutput("uname", ["-sr"])) ?? Deno.osRelease(),
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    command: commandLine(args),
    loadTool: "`tools/load/` (`runLoad`, keep-alive HTTP/1.1 on `Deno.connect`), " +
      "in the bench's own process",
    concurrency: options.concurrency,
    durationS: options.durationS,
    warmupS: options.warmupS,
    wallS: (performance.now() - wallStart) / 1000,
    quick: options.quick,
    notices,
  };
  const title = `Herald bench ${facts.date.slice(0, 10)}, ${cores} cores, Deno ${facts.deno}, ` +
    `c=${options.concurrency}${options.quick ? ", quick" : ""}`;
  await Deno.mkdir(dirname(chartPath), { recursive: true });
  await Deno.writeTextFile(chartPath, renderChart(results, title));
  facts.wallS = (performance.now() - wallStart) / 1000;
  let markdown = renderMarkdown(results, facts, relative(dirname(outPath), chartPath));
  if (lander) {
    markdown += `\n## The lander\n\n${renderLander(lander)}\n\n${LANDER_NOTE}\n`;
  }
  if (options.only.includes("stdout")) {
    log("Profiling the single-event route stage by stage, in-process");
    markdown += `\n## The single-event route, stage by stage\n\n${
      renderRequestStages(await profileRequestStages())
    }\n\n${REQUEST_STAGES_NOTE}\n`;
  }
  if (options.only.includes("batch")) {
    log("Profiling the batch route stage by stage, in-process");
    markdown += `\n## The batch route, stage by stage\n\n${
      renderStages(await profileBatchStages())
    }\n\n${STAGES_NOTE}\n`;
  }
  await Deno.writeTextFile(outPath, markdown);
  const fmt = await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", "--config", join(ROOT, "deno.json"), outPath, chartPath],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!fmt.success) {
    const why = new TextDecoder().decode(fmt.stderr).trim();
    log(`Cannot format "${outPath}" and "${chartPath}" with deno fmt: ${why}`);
  }
  return { outPath, chartPath, wallS: facts.wallS };
}

/**
 * The drills that fill the lake's disk: the lake on a small tmpfs (Linux,
 * root), filled until Herald refuses, then grown; once with a kill -9 after
 * the recovery.
 *
 * @module
 */
import { waitReady } from "./herald.ts";
import { countOutcomes, sleep, startLoad, waitFor } from "./load.ts";
import { checkParquetFiles } from "./oracle.ts";
import { drill, failed, MB, type Run, seconds } from "./steps.ts";
import type { Drill, DrillResult } from "./types.ts";

async function mountTmpfs(dir: string, size: string): Promise<string | null> {
  if (Deno.build.os !== "linux") return `tmpfs mounts need Linux (this is ${Deno.build.os})`;
  try {
    const out = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (out.success) return null;
    return `mount -t tmpfs failed: ${new TextDecoder().decode(out.stderr).trim()}`;
  } catch (error) {
    return `mount -t tmpfs failed: ${(error as Error).message}`;
  }
}

/**
 * Why a tmpfs cannot be mounted here (not Linux, not root), or null: tries a
 * mount and an unmount on a fresh folder.
 */
export async function tmpfsUnavailable(): Promise<string | null> {
  const dir = await Deno.makeTempDir({ prefix: "drill-probe-" });
  try {
    const why = await mountTmpfs(dir, "1m");
    if (why === null) await mountCommand(["umount", dir]);
    return why;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await Deno.remove(dir).catch(() => {});
  }
}

async function mountCommand(args: string[]): Promise<void> {
  const out = await new Deno.Command(args[0]!, { args: args.slice(1), stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

/** Random hex padding: random, so zstd cannot shrink it away. */
function padding(chars: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(chars / 2));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The lake on an 8 MB tmpfs: load until it is full (503s, no broken Parquet
 * file), then grow it and check Herald recovers without a restart. With
 * `crash`, Herald is then killed with -9 and restarted before the final stop,
 * so the write-ahead log written around the full disk is replayed.
 */
function diskFull(name: string, crash: boolean): Drill {
  return (ctx) =>
    drill(name, ctx, async (run) => {
      // Rolls by size only: the segment that hits the full disk is still the
      // current one when space comes back.
      await run.setup({ parquet: { roll_bytes: 2 * MB, roll_interval_ms: 60_000 } });
      const why = await mountTmpfs(run.lake, "8m");
      if (why) {
        if (Deno.env.get("CI") === "true") throw new Error(`cannot run under CI: ${why}`);
        return { ...failed(name, run.started, why), failures: [], notRun: why };
      }
      try {
        return await diskFullBody(run, crash);
      } finally {
        await run.cleanup(); // Herald first: the mount is busy while it runs
        await mountCommand(["umount", "-l", run.lake]).catch(() => {});
      }
    });
}

async function diskFullBody(run: Run, crash: boolean): Promise<DrillResult> {
  const sinks = "kafka,parquet";
  let herald = await run.startReady(sinks);
  const load = startLoad({
    prefix: run.name,
    url: () => run.herald?.url ?? null,
    extra: () => `&pad=${padding(2000)}`,
  });
  // Full: the last 100 answers are all refusals.
  const full = await waitFor(() => {
    const tail = load.outcomes.slice(-100);
    return tail.length === 100 && tail.every((o) => o.status !== 200) &&
      tail.some((o) => o.status === 503);
  }, 60_000);
  if (!full) throw new Error("the lake never filled up within 60 s");
  const fullAt = Date.now();
  run.log(`lake full after ${load.outcomes.length} requests`);
  await sleep(1500);
  const whileFull = await checkParquetFiles(run.lake);
  run.check(
    whileFull.unreadable.length === 0,
    `while full, unreadable Parquet files: ${whileFull.unreadable.join("; ")}`,
  );
  const ready = await fetch(`${herald.url}/readyz`);
  const readiness = await ready.json();
  run.check(ready.status === 503, `/readyz answered ${ready.status} while the lake was full`);
  run.check(
    /Cannot write/.test(readiness.sinks?.parquet?.detail ?? ""),
    `/readyz does not name the full lake: ${JSON.stringify(readiness.sinks?.parquet)}`,
  );
  const metrics = await (await fetch(`${herald.url}/metrics`)).text();
  const logErrors = Number(
    metrics.match(/herald_sink_errors_total\{sink="parquet",kind="log_write"\} (\d+)/)?.[1] ?? 0,
  );
  run.check(logErrors > 0, "herald_sink_errors_total counted no log_write error while full");
  const fullOutcomes = load.outcomes.filter((o) => o.sentAt > fullAt);
  const fullCounts = countOutcomes(fullOutcomes);
  run.check(fullCounts.other === 0, `${fullCounts.other} answers other than 2xx/503 while full`);
  await mountCommand(["mount", "-o", "remount,size=64m", run.lake]);
  const freedAt = Date.now();
  run.log("lake grown to 64 MB");
  const recovered = await waitFor(
    () => load.outcomes.some((o) => o.sentAt > freedAt && o.status === 200),
    30_000,
  );
  const recoveredAt = Date.now();
  run.check(recovered, "no 2xx within 30 s of freeing space (without restarting Herald)");
  run.check(await waitReady(herald.url, 5000), "/readyz not 200 within 5 s of the first 2xx");
  let replayed = "";
  if (crash) {
    // Kill at once, while the segment that met the full disk is still the log.
    const wal = await walLines(`${run.lake}/_wal`);
    run.notes.push(
      `log before kill -9: ${wal.segments} segment(s), ${wal.corrupt} corrupt line(s) inside`,
    );
    await herald.stop("SIGKILL");
    herald = await run.start(sinks);
    const line = herald.stderr().split("\n").find((l) =>
      l.includes("replayed the write-ahead log")
    );
    replayed = line ? `; replayed ${JSON.parse(line).events} events` : "; nothing replayed";
    const corrupt = herald.stderr().split("\n").filter((l) => l.includes("corrupt")).length;
    if (corrupt > 0) {
      run.check(false, `the replay skipped ${corrupt} corrupt write-ahead log line(s)`);
    }
    await waitReady(herald.url);
    await sleep(1000);
  } else await sleep(1000);
  const outcomes = await load.stop();
  await run.stopClean();
  run.notes.push(
    `full after ${seconds(fullAt - run.started)}: ${fullCounts.unavailable} 503 while full, ` +
      `${logErrors} log write errors counted, ` +
      `${whileFull.tmpFiles} tmp files; 2xx ${seconds(recoveredAt - freedAt)} after freeing${
        crash ? `; kill -9 after recovery${replayed}` : ""
      }`,
  );
  return run.verdict(outcomes, { kafka: true, lake: true });
}

/** Log segments in `dir` and their lines that are not JSON, the last line of each excepted. */
async function walLines(dir: string): Promise<{ segments: number; corrupt: number }> {
  let segments = 0, corrupt = 0;
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.name.endsWith(".wal")) continue;
    segments++;
    const lines = (await Deno.readTextFile(`${dir}/${entry.name}`)).split("\n");
    lines.slice(0, -1).forEach((line) => {
      try {
        JSON.parse(line);
      } catch {
        corrupt++;
      }
    });
  }
  return { segments, corrupt };
}

/** Disk full, space freed, SIGTERM. */
export const diskFullDrill: Drill = diskFull("disk-full", false);
/** Disk full, space freed, kill -9 and restart, SIGTERM. */
export const diskFullCrashDrill: Drill = diskFull("disk-full-kill9", true);

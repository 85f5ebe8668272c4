/**
 * The drills that break Herald's own process: kill -9 under load and
 * restart on the same lake and broker, kill -9 of one worker of
 * `--workers 2` (the supervisor restarts it), and a SIGTERM drain.
 *
 * @module
 */
import { sleep, startLoad, waitFor } from "./load.ts";
import { drill, seconds } from "./steps.ts";
import type { Drill } from "./types.ts";

/** kill -9 Herald 5 times under load, restarting it on the same lake and broker. */
export const heraldKill9: Drill = (ctx) =>
  drill("herald-kill9", ctx, async (run) => {
    await run.setup();
    const sinks = "kafka,parquet";
    let herald = await run.start(sinks);
    const load = startLoad({ prefix: "herald-kill9", url: () => run.herald?.url ?? herald.url });
    const roundMs = Math.max(1000, Math.min(2000, (ctx.seconds * 1000) / 4));
    let replayed = 0;
    for (let kill = 1; kill <= 5; kill++) {
      await sleep(roundMs);
      await herald.stop("SIGKILL");
      herald = await run.start(sinks);
      const line = herald.stderr().split("\n").find((l) =>
        l.includes("replayed the write-ahead log")
      );
      if (line) replayed += Number(JSON.parse(line).events);
      run.log(`kill -9 #${kill}: restarted`);
    }
    await sleep(roundMs);
    const outcomes = await load.stop();
    await run.stopClean();
    run.notes.push(`5 kills, every ${seconds(roundMs)}; ${replayed} events replayed from the log`);
    return run.verdict(outcomes, { kafka: true, lake: true });
  });

/** The pid of each worker now, from the supervisor's log. */
function workerPids(stderr: string): Map<number, number> {
  const pids = new Map<number, number>();
  for (const line of stderr.split("\n")) {
    if (line.includes('"msg":"every worker listening"')) {
      (JSON.parse(line).pids as number[]).forEach((pid, worker) => pids.set(worker, pid));
    } else if (line.includes('"msg":"worker restarted"')) {
      const { worker, pid } = JSON.parse(line);
      pids.set(worker, pid);
    }
  }
  return pids;
}

/** kill -9 a worker of `--workers 2` 4 times under load, each worker in turn; the supervisor restarts it. */
export const workerKill9: Drill = (ctx) =>
  drill("worker-kill9", ctx, async (run) => {
    await run.setup();
    const herald = await run.start("kafka,parquet", { args: ["--workers", "2"] });
    const listening = await waitFor(
      () => herald.stderr().includes('"msg":"every worker listening"'),
      60_000,
    );
    if (!listening) throw new Error("The workers never all listened");
    const load = startLoad({
      prefix: "worker-kill9",
      url: () => herald.url,
      freshConnections: true,
    });
    const roundMs = Math.max(1000, Math.min(2000, (ctx.seconds * 1000) / 4));
    for (let kill = 1; kill <= 4; kill++) {
      await sleep(roundMs);
      const worker = kill % 2;
      Deno.kill(workerPids(herald.stderr()).get(worker)!, "SIGKILL");
      const restarted = await waitFor(
        () => herald.stderr().split('"msg":"worker restarted"').length > kill,
        30_000,
      );
      run.check(restarted, `worker ${worker} not restarted within 30 s of kill -9 #${kill}`);
      run.log(`kill -9 #${kill}: worker ${worker} restarted`);
    }
    await sleep(roundMs);
    const outcomes = await load.stop();
    await run.stopClean();
    const replays = herald.stderr().split('"msg":"replayed the write-ahead log"').length - 1;
    run.notes.push(`4 worker kills, every ${seconds(roundMs)}; ${replays} log replays`);
    return run.verdict(outcomes, { kafka: true, lake: true });
  });

/** SIGTERM under load: drains in time, every 2xx once in stdout, Kafka and the lake. */
export const sigterm: Drill = (ctx) =>
  drill("sigterm", ctx, async (run) => {
    await run.setup();
    const herald = await run.startReady("stdout,kafka,parquet", { keepStdout: true });
    const load = startLoad({ prefix: "sigterm", url: () => herald.url });
    await sleep(Math.max(1500, ctx.seconds * 1000));
    const { code, ms } = await run.stopClean();
    const outcomes = await load.stop();
    const budget = Number(run.config.server!.shutdown_timeout_ms);
    const margin = 3000;
    run.check(ms <= budget + margin, `drain took ${ms} ms (budget ${budget} + ${margin} ms)`);
    run.notes.push(`drain ${ms} ms (budget ${budget} + ${margin}), exit ${code}`);
    return run.verdict(outcomes, { kafka: true, lake: true, stdout: herald.stdout() });
  });

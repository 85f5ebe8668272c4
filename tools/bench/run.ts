/**
 * One bench run: the local Kafka broker when a target needs it, every chosen
 * target measured in turn, the lander's rows, and everything the bench
 * started stopped again, on SIGINT or SIGTERM too (a second signal kills it
 * all at once).
 *
 * @module
 */
import { startKafka } from "../kafka/mod.ts";
import type { BenchOptions } from "./args.ts";
import { type LanderMeasurement, measureLander } from "./lander.ts";
import { measureTarget } from "./measure.ts";
import { log, running, serveArgs } from "./process.ts";
import type { TargetResult } from "./results.ts";
import { type RunContext, seedsProblem, TARGETS } from "./targets.ts";

/** What a run measured, for the report. */
export interface BenchRun {
  results: TargetResult[];
  lander: LanderMeasurement | null;
  /** A target could not be started or measured. */
  failed: boolean;
  /** Lines for the report's notes: errors seen, rows skipped. */
  notices: string[];
  /** `/proc/loadavg` when the run began, when known. */
  loadAverage: string | null;
  /** `performance.now()` when the run began. */
  wallStart: number;
}

async function removeQuietly(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch { /* already gone */ }
}

async function readLoadAverage(): Promise<string | null> {
  try {
    return (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  } catch {
    return null;
  }
}

/** Runs the targets of `options`; resolves with null when a signal interrupted it. */
export async function runBench(options: BenchOptions): Promise<BenchRun | null> {
  const wallStart = performance.now();
  const loadAverage = await readLoadAverage();
  const specs = TARGETS.filter((t) => options.only.includes(t.id));
  const notices: string[] = [];
  const ctx: RunContext = {
    serve: await serveArgs(),
    notices,
    abort: new AbortController(),
    brokers: null,
    brokerPid: null,
    kafkaProblem: null,
    tempDirs: [],
  };
  let broker: Awaited<ReturnType<typeof startKafka>> | null = null;
  let interrupted = false;

  const cleanOnce = async () => {
    for (const server of [...running]) await server.stop(5000);
    if (broker) {
      const b = broker;
      broker = null;
      log("Stopping the Kafka broker");
      await b.stop().catch((e) => log(`Cannot stop Kafka: ${e}`));
      await removeQuietly(b.dir);
    }
    for (const dir of ctx.tempDirs.splice(0)) await removeQuietly(dir);
  };
  let cleaning = Promise.resolve();
  const cleanup = () => (cleaning = cleaning.then(cleanOnce));
  const onSignal = () => {
    if (interrupted) {
      log("Interrupted again: killing what the bench started and exiting now");
      for (const server of running) {
        try {
          server.child.kill("SIGKILL");
        } catch { /* already gone */ }
      }
      if (broker) {
        try {
          Deno.kill(broker.pid, "SIGKILL");
        } catch { /* already gone */ }
      }
      Deno.exit(130);
    }
    interrupted = true;
    log("Interrupted: stopping every process the bench started (again to kill them at once)");
    ctx.abort.abort();
    void cleanup();
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, onSignal);

  const results: TargetResult[] = [];
  let lander: LanderMeasurement | null = null;
  let failed = false;
  try {
    if (specs.some((s) => s.id === "seeds")) {
      const problem = await seedsProblem();
      if (problem !== null) {
        const banner = "!".repeat(78);
        log(`${banner}\nNOTICE: skipping the seeds' app row: ${problem}\n${banner}`);
        notices.push(`The seeds' row was skipped: ${problem}.`);
      }
    }
    if (specs.some((s) => s.needsKafka)) {
      log("Starting a local Kafka broker (tools/kafka)");
      try {
        broker = await startKafka({ log: (m) => log(`  ${m}`) });
        ctx.brokers = broker.brokers;
        ctx.brokerPid = broker.pid;
        if (interrupted) await cleanup();
      } catch (error) {
        ctx.kafkaProblem = `no Kafka broker: ${(error as Error).message.split("\n")[0]}`;
        log(`NOTICE: Kafka rows skipped: ${ctx.kafkaProblem}`);
        notices.push(`Kafka rows were skipped: ${ctx.kafkaProblem}.`);
      }
    }
    for (const spec of specs) {
      if (interrupted) break;
      try {
        results.push(await measureTarget(spec, ctx, options));
      } catch (error) {
        if (interrupted) break;
        failed = true;
        const message = (error as Error).message;
        log(`${spec.id}: failed: ${message}`);
        results.push({
          id: spec.id,
          label: spec.label,
          kind: spec.kind,
          eventsPerRequest: spec.batch,
          skipped: `failed: ${message.split("\n")[0]}`,
        });
        notices.push(`${spec.label} failed: ${message.split("\n")[0]}.`);
      }
    }
    if (!interrupted && !options.quick && ctx.brokers && options.only.includes("kafka")) {
      try {
        lander = await measureLander(ctx.brokers, { log });
        log(
          `lander: ${Math.round(lander.recordsPerS)} records/s draining; ` +
            `lands again ${lander.restartS.toFixed(1)} s after kill -9`,
        );
      } catch (error) {
        log(`lander: failed: ${(error as Error).message}`);
        notices.push(`The lander rows failed: ${(error as Error).message.split("\n")[0]}.`);
      }
    }
  } finally {
    await cleanup();
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.removeSignalListener(signal, onSignal);
    }
  }
  if (interrupted) return null;
  return { results, lander, failed, notices, loadAverage, wallStart };
}

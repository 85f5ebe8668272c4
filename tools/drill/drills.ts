/**
 * The fault drills: each one runs Herald under load, breaks something (the
 * process, the broker, the disk, a node of a cluster, a lander), repairs it,
 * stops Herald and asks the oracle whether every acknowledged request is in
 * every sink exactly once. This is their list, in the order the task runs them, and
 * the context they share.
 *
 * @module
 */
import { type KafkaCluster, startKafka, startKafkaCluster } from "../kafka/mod.ts";
import { brokerKill9, brokerStop } from "./broker_drills.ts";
import {
  clusterBrokerStop,
  clusterBrokerStopTwoHeralds,
  clusterControllerKill9,
  clusterControllerKill9Workers,
  clusterLeaderKill9,
  clusterLeaderKill9Workers,
} from "./cluster_drills.ts";
import { diskFullCrashDrill, diskFullDrill } from "./disk_drills.ts";
import { clusterHeraldLanderKill9 } from "./pipeline_drills.ts";
import { heraldKill9, sigterm, workerKill9 } from "./process_drills.ts";
import type { Drill, DrillContext, DrillResult, SharedBroker } from "./types.ts";

/** Every drill, by name, in the order the task runs them. */
export const DRILLS: Record<string, Drill> = {
  "herald-kill9": heraldKill9,
  "worker-kill9": workerKill9,
  "broker-kill9": brokerKill9,
  "broker-stop": brokerStop,
  "disk-full": diskFullDrill,
  "disk-full-kill9": diskFullCrashDrill,
  "sigterm": sigterm,
  "cluster-leader-kill9": clusterLeaderKill9,
  "cluster-controller-kill9": clusterControllerKill9,
  "cluster-broker-stop": clusterBrokerStop,
  "cluster-leader-kill9-workers": clusterLeaderKill9Workers,
  "cluster-controller-kill9-workers": clusterControllerKill9Workers,
  "cluster-broker-stop-two-heralds": clusterBrokerStopTwoHeralds,
  "cluster-herald-lander-kill9": clusterHeraldLanderKill9,
};

/** A drill context whose broker is started on first use; `close` stops and removes it. */
export function drillContext(
  options: { seconds: number; log?: (message: string) => void },
): DrillContext & { close(): Promise<void> } {
  let shared: Promise<SharedBroker> | null = null;
  let cluster: Promise<KafkaCluster> | null = null;
  return {
    seconds: options.seconds,
    log: options.log ?? ((m: string) => console.error(m)),
    broker: () => shared ??= startKafka().then((current) => ({ current })),
    cluster: () => cluster ??= startKafkaCluster({ nodes: 3 }),
    async close() {
      const nodes = await cluster?.catch(() => null);
      if (nodes) {
        for (let id = 1; id <= nodes.size; id++) {
          const pid = await nodes.pidOf(id);
          try {
            if (pid !== null) Deno.kill(pid, "SIGCONT"); // in case a drill died with it stopped
          } catch { /* gone */ }
        }
        await nodes.stop();
        await Deno.remove(nodes.dir, { recursive: true }).catch(() => {});
      }
      const broker = await shared?.catch(() => null);
      if (!broker) return;
      try {
        Deno.kill(broker.current.pid, "SIGCONT"); // in case a drill died with it stopped
      } catch { /* gone */ }
      await broker.current.stop();
      await Deno.remove(broker.current.dir, { recursive: true }).catch(() => {});
    },
  };
}

/** Runs `names` in order against one shared broker, stopped and removed at the end. */
export async function runDrills(
  names: string[],
  options: { seconds: number; log?: (message: string) => void },
): Promise<DrillResult[]> {
  const ctx = drillContext(options);
  const results: DrillResult[] = [];
  try {
    for (const name of names) {
      const drill = DRILLS[name];
      if (!drill) {
        throw new Error(`Unknown drill "${name}": one of ${Object.keys(DRILLS).join(", ")}`);
      }
      ctx.log(`[${name}] running`);
      results.push(await drill(ctx));
    }
  } finally {
    await ctx.close();
  }
  return results;
}

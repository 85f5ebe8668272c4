/**
 * The drills on a 3-node cluster: SIGKILL a partition leader or the active
 * controller and restart it (under one Herald, or one of `--workers 2`), or
 * SIGSTOP a leader past Kafka's timeout (under one Herald, or two).
 *
 * @module
 */
import { type KafkaCluster, SESSION_TIMEOUT_MS } from "../kafka/mod.ts";
import { countOutcomes, type Outcome, sleep, startLoad } from "./load.ts";
import { drill, type Run, seconds } from "./steps.ts";
import type { Drill } from "./types.ts";

/**
 * The cluster drills run Herald's defaults for a cluster: `ack_timeout_ms`
 * 5000 (longer than a failover), a topic of 3 partitions with 3 replicas
 * and `min.insync.replicas` 2.
 */
export const CLUSTER_OVERRIDES = { server: { ack_timeout_ms: 5000 } };

/**
 * What a cluster drill measures around the fault at `faultAt`, and its
 * budget: at most 1% 503, nothing but 2xx and 503, a 2xx after the fault.
 * `label` names the gateway when a drill runs several.
 */
export function faultNotes(
  run: Run,
  outcomes: readonly Outcome[],
  faultAt: number,
  label = "",
): void {
  const prefix = label === "" ? "" : `${label}: `;
  const counts = countOutcomes(outcomes);
  const share = counts.sent === 0 ? 0 : counts.unavailable / counts.sent;
  const after = outcomes.filter((o) => o.sentAt >= faultAt && o.status === 200);
  const first = after.length === 0
    ? Infinity
    : Math.min(...after.map((o) => o.sentAt + o.ms)) - faultAt;
  const slowest = Math.max(0, ...outcomes.filter((o) => o.status === 200).map((o) => o.ms));
  run.check(Number.isFinite(first), `${prefix}no 2xx after the fault`);
  run.check(
    share <= 0.01,
    `${prefix}${counts.unavailable} of ${counts.sent} answers were 503 (${
      (share * 100).toFixed(2)
    }%, limit 1%)`,
  );
  run.check(counts.other === 0, `${prefix}${counts.other} answers other than 2xx/503`);
  run.notes.push(
    `${prefix}503: ${counts.unavailable} of ${counts.sent} (${(share * 100).toFixed(2)}%); ` +
      `first 2xx ${first} ms after the fault; slowest 2xx ${slowest} ms`,
  );
}

/**
 * SIGKILL a node of the 3-node cluster under load (a partition leader that
 * is not the controller, or the active controller), restart it on its data:
 * every 2xx in Kafka once. Herald runs `workers` worker processes (each its
 * own producer).
 */
function clusterKill(name: string, victim: "leader" | "controller", workers = 1): Drill {
  return (ctx) =>
    drill(name, ctx, async (run) => {
      await run.setup(CLUSTER_OVERRIDES);
      const cluster = await ctx.cluster();
      const herald = await run.startReady("kafka", {
        brokers: cluster.brokers,
        args: workers === 1 ? [] : ["--workers", String(workers)],
      });
      const load = startLoad({ prefix: name, url: () => herald.url, concurrency: 16 });
      const phaseMs = Math.max(1500, (ctx.seconds * 1000) / 2);
      await sleep(phaseMs);
      const leaders = await cluster.leaders(run.topic);
      const id = victim === "leader"
        ? await plainLeader(cluster, run.topic)
        : await cluster.activeController();
      const led = leaders.flatMap((leader, partition) => leader === id ? [partition] : []);
      await cluster.kill(id, "SIGKILL");
      const killedAt = Date.now();
      run.log(`node ${id} killed (${victim}; led partitions ${led.join(", ") || "none"})`);
      await sleep(Math.max(SESSION_TIMEOUT_MS + 3000, phaseMs));
      await cluster.restart(id);
      const restartedAt = Date.now();
      run.log(`node ${id} restarted`);
      await sleep(phaseMs);
      const outcomes = await load.stop();
      await run.stopClean();
      faultNotes(run, outcomes, killedAt);
      run.notes.push(
        `node ${id} (${victim}, led partitions ${led.join(", ") || "none"}) down ` +
          `${seconds(restartedAt - killedAt)}${workers === 1 ? "" : `; --workers ${workers}`}`,
      );
      return run.verdict(outcomes, { kafka: true });
    });
}

/** SIGKILL the leader of a partition that is not the controller, restart it. */
export const clusterLeaderKill9: Drill = clusterKill("cluster-leader-kill9", "leader");
/** SIGKILL the active controller, restart it. */
export const clusterControllerKill9: Drill = clusterKill("cluster-controller-kill9", "controller");
/** {@linkcode clusterLeaderKill9} under Herald with `--workers 2`. */
export const clusterLeaderKill9Workers: Drill = clusterKill(
  "cluster-leader-kill9-workers",
  "leader",
  2,
);
/** {@linkcode clusterControllerKill9} under Herald with `--workers 2`. */
export const clusterControllerKill9Workers: Drill = clusterKill(
  "cluster-controller-kill9-workers",
  "controller",
  2,
);

/**
 * A partition leader that is not the active controller (each drill's topic
 * is new, so its partitions are spread over every node): killing or
 * stopping it tests a leader's failover alone.
 */
async function plainLeader(cluster: KafkaCluster, topic: string): Promise<number> {
  const controller = await cluster.activeController();
  const leader = (await cluster.leaders(topic)).find((id) => id !== controller);
  if (leader === undefined) {
    throw new Error(`every partition of "${topic}" is led by the controller`);
  }
  return leader;
}

/**
 * SIGSTOP a partition leader past `kafka.timeout_ms`, then SIGCONT, under
 * `gateways` Herald processes (each its own port and producers, 16 clients
 * in all): the first bootstrap broker of the first Herald when it leads a
 * partition (the client refreshes metadata from it during Produce retries,
 * so the sink must move the hung partition to another producer), and never
 * the active controller, whose hang is a failover of its own. Each further
 * Herald's bootstrap list starts at another node.
 */
function clusterStop(name: string, gateways: number): Drill {
  return (ctx) =>
    drill(name, ctx, async (run) => {
      await run.setup(CLUSTER_OVERRIDES);
      const cluster = await ctx.cluster();
      // The first Herald's first bootstrap broker is a node that is not the
      // controller: the hardest case to stop, since the client refreshes
      // metadata from it during Produce retries.
      const controller = await cluster.activeController();
      const ids = Array.from({ length: cluster.size }, (_, i) => i + 1);
      const first = ids.find((n) => n !== controller)!;
      const order = [first, ...ids.filter((n) => n !== first)];
      const heralds = await Promise.all(Array.from({ length: gateways }, (_, g) => {
        const list = [...order.slice(g), ...order.slice(0, g)];
        const brokers = list.map((n) => `127.0.0.1:${cluster.portOf(n)}`).join(",");
        return run.startReady("kafka", { brokers });
      }));
      const loads = heralds.map((herald, g) =>
        startLoad({
          prefix: gateways === 1 ? name : `${name}-g${g + 1}`,
          url: () => herald.url,
          concurrency: 16 / gateways,
        })
      );
      const kafkaTimeout = Number(run.config.kafka!.timeout_ms);
      const stopMs = Math.max(kafkaTimeout * 3, 6000);
      // Long phases around the hang: the requests in flight when it starts (at most one per
      // client) get 503, and the 1% bound is over everything the drill sends.
      await sleep(Math.max(3000, (ctx.seconds * 1000) / 2));
      const leaders = await cluster.leaders(run.topic);
      const id = leaders.includes(first) ? first : await plainLeader(cluster, run.topic);
      const pid = await cluster.pidOf(id);
      if (pid === null) throw new Error(`node ${id} of the cluster is not running`);
      let stopped = false;
      let stoppedAt = 0;
      try {
        Deno.kill(pid, "SIGSTOP");
        stopped = true;
        stoppedAt = Date.now();
        run.log(`node ${id} stopped for ${seconds(stopMs)}`);
        await sleep(stopMs);
      } finally {
        if (stopped) Deno.kill(pid, "SIGCONT");
      }
      await sleep(Math.max(6000, ctx.seconds * 1000));
      const outcomes = await Promise.all(loads.map((load) => load.stop()));
      await Promise.all(heralds.map((herald) => run.stopClean(herald)));
      outcomes.forEach((o, g) =>
        faultNotes(run, o, stoppedAt, gateways === 1 ? "" : `Herald ${g + 1}`)
      );
      run.notes.push(
        `node ${id} (a partition leader, not the controller${
          id === first ? ", the first bootstrap broker" : ""
        }${gateways === 1 ? "" : " of Herald 1"}) stopped ${seconds(stopMs)}`,
      );
      return run.verdict(outcomes.flat(), { kafka: true });
    });
}

/** SIGSTOP a partition leader under one Herald, then SIGCONT. */
export const clusterBrokerStop: Drill = clusterStop("cluster-broker-stop", 1);
/** SIGSTOP a partition leader while two Herald processes write, then SIGCONT. */
export const clusterBrokerStopTwoHeralds: Drill = clusterStop(
  "cluster-broker-stop-two-heralds",
  2,
);

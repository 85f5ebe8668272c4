/**
 * A local Kafka cluster of N KRaft nodes (each broker and controller) on
 * loopback ports, from the same Maven jars as the single broker: for the
 * failover drills and for trying Herald against a replicated topic.
 *
 * Layout: `<dir>/cluster.json` records the cluster id and every node's ports;
 * node `i` lives in `<dir>/node-<i>/` exactly like a single broker's
 * directory. Starting again on the same directory starts only the nodes that
 * are not running, on their recorded ports and data, so a node killed with
 * SIGKILL comes back as the same broker.
 *
 * ```ts
 * import { startKafkaCluster } from "./tools/kafka/mod.ts";
 *
 * const cluster = await startKafkaCluster({ nodes: 3 });
 * await cluster.kill(2, "SIGKILL");
 * await cluster.restart(2);
 * await cluster.stop();
 * ```
 *
 * @module
 */
import { join, resolve } from "node:path";
import { type NodeSpec, randomClusterId } from "./config.ts";
import { type KafkaBroker, startNode } from "./node.ts";
import { portIsFree } from "./ports.ts";
import { stopPid } from "./process.ts";
import { isBrokerOf, readBrokerRecord } from "./status.ts";

/**
 * How long a node may miss heartbeats before the controller fences it and
 * moves its partition leaders. Kafka's default is 9 s; 3 s lets a failover
 * finish inside Herald's default `ack_timeout_ms` (5 s), so clients see a
 * slower answer instead of a 503.
 */
export const SESSION_TIMEOUT_MS = 3000;

/** Options of {@linkcode startKafkaCluster}. */
export interface StartClusterOptions {
  /** Cluster directory (default: a fresh temporary one, which the caller removes). */
  dir?: string;
  /** Number of nodes (default 3). */
  nodes?: number;
  version?: string;
  /** How long to wait for every node to be ready (default 180 000 ms). */
  timeoutMs?: number;
  /** JVM heap of each node in MiB (default 384). */
  heapMb?: number;
  log?: (msg: string) => void;
}

/** A running cluster. Node ids run from 1 to `size`. */
export interface KafkaCluster {
  /** Bootstrap list for clients: `127.0.0.1:<port>,...`. */
  brokers: string;
  dir: string;
  /** The node count; ids run from 1 to it. */
  size: number;
  /** Node `id`'s pid now (null: not running), read from its folder. */
  pidOf(id: number): Promise<number | null>;
  /** Node `id`'s port, running or not. */
  portOf(id: number): number;
  /** Sends `signal` to node `id` and waits until it has exited (nothing if it is not running). */
  kill(id: number, signal?: Deno.Signal): Promise<void>;
  /** Starts node `id` again on its data and ports. */
  restart(id: number): Promise<KafkaBroker>;
  /** The id of the active KRaft controller, from the running nodes' quorum state. */
  activeController(): Promise<number>;
  /** The leader's node id of each partition of `topic`, by partition. */
  leaders(topic: string): Promise<number[]>;
  /** Stops every node running in the folder (controlled shutdown, then SIGKILL). */
  stop(): Promise<void>;
}

interface ClusterRecord {
  clusterId: string;
  nodes: { id: number; port: number; controllerPort: number }[];
}

/** The properties every node of an N-node cluster adds to the common ones. */
export function clusterProperties(nodes: number): Record<string, string | number | boolean> {
  const replicas = Math.min(3, nodes);
  const minIsr = Math.max(1, Math.min(2, replicas - 1));
  return {
    "num.partitions": 3,
    "default.replication.factor": replicas,
    "min.insync.replicas": minIsr,
    "offsets.topic.replication.factor": replicas,
    "offsets.topic.num.partitions": 3,
    "transaction.state.log.replication.factor": replicas,
    "transaction.state.log.min.isr": minIsr,
    "unclean.leader.election.enable": false,
    "broker.session.timeout.ms": SESSION_TIMEOUT_MS,
    "broker.heartbeat.interval.ms": 500,
    // A dead active controller is noticed and replaced in about 1.5 s
    // (defaults 2 s and 1 s), before the session timeout starts to count.
    "controller.quorum.fetch.timeout.ms": 1000,
    "controller.quorum.election.timeout.ms": 500,
  };
}

/** `count` free loopback ports, all held until every one is chosen. */
function pickPorts(count: number): number[] {
  const held = Array.from({ length: count }, () => Deno.listen({ hostname: "127.0.0.1", port: 0 }));
  try {
    return held.map((listener) => (listener.addr as Deno.NetAddr).port);
  } finally {
    for (const listener of held) listener.close();
  }
}

async function readRecord(dir: string): Promise<ClusterRecord | null> {
  try {
    const record = JSON.parse(await Deno.readTextFile(join(dir, "cluster.json")));
    return typeof record.clusterId === "string" && Array.isArray(record.nodes) ? record : null;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof SyntaxError) return null;
    throw error;
  }
}

/** The running node recorded in `dir`, or null. */
async function runningNode(dir: string): Promise<KafkaBroker | null> {
  const record = await readBrokerRecord(dir);
  if (!record || !(await isBrokerOf(record.pid, dir))) return null;
  const { pid } = record;
  return {
    ...record,
    dir,
    async kill(signal: Deno.Signal = "SIGTERM") {
      try {
        Deno.kill(pid, signal);
      } catch { /* gone */ }
      while (await isBrokerOf(pid, dir)) await new Promise((r) => setTimeout(r, 50));
    },
    stop: () => stopPid(pid),
  };
}

/** Node `id`'s directory. */
export function nodeDir(dir: string, id: number): string {
  return join(dir, `node-${id}`);
}

/**
 * Starts (or completes) an N-node cluster in `dir` and resolves once every
 * node logs "Kafka Server started". Nodes already running are kept.
 */
export async function startKafkaCluster(options: StartClusterOptions = {}): Promise<KafkaCluster> {
  const count = options.nodes ?? 3;
  if (!Number.isInteger(count) || count < 1 || count > 9) {
    throw new RangeError(`Invalid node count "${count}": expected 1 to 9`);
  }
  const dir = options.dir === undefined
    ? await Deno.makeTempDir({ prefix: "herald-kafka-cluster-" })
    : resolve(options.dir);
  await Deno.mkdir(dir, { recursive: true });
  const recorded = await readRecord(dir);
  if (recorded && recorded.nodes.length !== count) {
    throw new Error(
      `The cluster in "${dir}" has ${recorded.nodes.length} nodes, not ${count}: ` +
        `stop it and remove the folder to change its size`,
    );
  }
  const running = await Promise.all(
    Array.from({ length: count }, (_, i) => runningNode(nodeDir(dir, i + 1))),
  );
  // The quorum's voters (each node's controller port) are fixed once the
  // nodes are formatted: a recorded cluster keeps its ports, and a dead node
  // whose port another process took cannot come back.
  if (recorded) {
    for (const [i, node] of recorded.nodes.entries()) {
      if (running[i]) continue;
      const busy = [node.port, node.controllerPort].filter((port) => !portIsFree(port));
      if (busy.length > 0) {
        throw new Error(
          `Cannot restart node ${node.id} of "${dir}": port ${
            busy.join(", ")
          } on 127.0.0.1 is in use`,
        );
      }
    }
  }
  const ports = recorded
    ? recorded.nodes.flatMap((n) => [n.port, n.controllerPort])
    : pickPorts(2 * count);
  const record: ClusterRecord = {
    clusterId: recorded?.clusterId ?? randomClusterId(),
    nodes: Array.from({ length: count }, (_, i) => ({
      id: i + 1,
      port: ports[2 * i]!,
      controllerPort: ports[2 * i + 1]!,
    })),
  };
  await Deno.writeTextFile(join(dir, "cluster.json"), JSON.stringify(record, null, 2) + "\n");
  const voters = record.nodes.map((n) => `${n.id}@127.0.0.1:${n.controllerPort}`).join(",");
  const extra = clusterProperties(count);
  const spec = (id: number): NodeSpec => {
    const n = record.nodes[id - 1]!;
    return { nodeId: id, port: n.port, controllerPort: n.controllerPort, voters, extra };
  };
  const launch = (id: number) =>
    startNode({
      dir: nodeDir(dir, id),
      node: spec(id),
      clusterId: record.clusterId,
      version: options.version,
      timeoutMs: options.timeoutMs ?? 180_000,
      heapMb: options.heapMb ?? 384,
      log: options.log,
    });

  // All at once: a node reports ready only once the controller quorum has a leader.
  const started = await Promise.allSettled(
    running.map((node, i) => node ? Promise.resolve(node) : launch(i + 1)),
  );
  const failed = started.find((s) => s.status === "rejected");
  if (failed) {
    for (const s of started) if (s.status === "fulfilled") await s.value.stop();
    throw (failed as PromiseRejectedResult).reason;
  }
  const byId = (id: number) => {
    if (!record.nodes[id - 1]) throw new RangeError(`No node ${id}: expected 1 to ${count}`);
    return id - 1;
  };
  // Each call reads the node's folder, so a node restarted from outside (by
  // `deno task kafka start`) is still found.
  const current = (id: number) => runningNode(nodeDir(dir, record.nodes[byId(id)]!.id));
  return {
    brokers: record.nodes.map((n) => `127.0.0.1:${n.port}`).join(","),
    dir,
    size: count,
    pidOf: async (id) => (await current(id))?.pid ?? null,
    portOf: (id) => record.nodes[byId(id)]!.port,
    async kill(id, signal = "SIGTERM") {
      await (await current(id))?.kill(signal);
    },
    restart: (id) => launch(byId(id) + 1),
    async activeController() {
      let best = { id: -1, epoch: -1 };
      for (const n of record.nodes) {
        const path = join(nodeDir(dir, n.id), "data", "__cluster_metadata-0", "quorum-state");
        try {
          const state = JSON.parse(await Deno.readTextFile(path));
          if (state.leaderEpoch > best.epoch) {
            best = { id: state.leaderId, epoch: state.leaderEpoch };
          }
        } catch { /* a node that never started */ }
      }
      if (best.id < 0) throw new Error(`No quorum state in "${dir}" names a controller`);
      return best.id;
    },
    async leaders(topic) {
      const { Admin } = await import("@platformatic/kafka");
      const admin = new Admin({
        clientId: "herald-cluster",
        bootstrapBrokers: record.nodes.map((n) => `127.0.0.1:${n.port}`),
      });
      try {
        const metadata = await admin.metadata({ topics: [topic], forceUpdate: true });
        const info = metadata.topics.get(topic);
        if (!info) throw new Error(`Topic "${topic}" is not in the cluster's metadata`);
        return info.partitions.map((p) => p.leader);
      } finally {
        await admin.close();
      }
    },
    async stop() {
      await Promise.all(record.nodes.map(async (n) => (await current(n.id))?.stop()));
    },
  };
}

/** The cluster recorded in `dir`, with each node's pid (null: not running). */
export async function clusterStatus(
  dir: string,
): Promise<{ brokers: string; nodes: { id: number; port: number; pid: number | null }[] } | null> {
  const record = await readRecord(resolve(dir));
  if (!record) return null;
  const nodes = await Promise.all(record.nodes.map(async (n) => {
    const running = await runningNode(nodeDir(resolve(dir), n.id));
    return { id: n.id, port: n.port, pid: running?.pid ?? null };
  }));
  return { brokers: record.nodes.map((n) => `127.0.0.1:${n.port}`).join(","), nodes };
}

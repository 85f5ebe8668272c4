/**
 * The `deno task kafka` command line: `start`, `stop`, `status`, `kill` and
 * `fetch` on a node's or a cluster's folder.
 *
 * ```sh
 * deno task kafka fetch                         # download the jars once
 * deno task kafka start [--dir D] [--port N]    # one node; prints 127.0.0.1:<port>
 * deno task kafka start --brokers 3             # a 3-node cluster; prints the bootstrap list
 * deno task kafka status                        # each node with its pid and port
 * deno task kafka kill --node 2                 # SIGKILL one node of the cluster
 * deno task kafka start                         # starts the nodes that are not running
 * deno task kafka stop
 * ```
 *
 * @module
 */
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { clusterStatus, nodeDir, startKafkaCluster } from "./cluster.ts";
import { DEFAULT_KAFKA_VERSION } from "./config.ts";
import { ensureKafkaJars } from "./jars.ts";
import { startKafka } from "./node.ts";
import { portIsFree } from "./ports.ts";
import { stopPid } from "./process.ts";
import { isBrokerOf, isFormatted, readBrokerRecord } from "./status.ts";

/** The usage text of `deno task kafka`. */
export const USAGE = `Usage: deno task kafka <command> [options]

Commands:
  start [--dir D] [--port N] [--brokers N] [--kafka-version V]
      Start Kafka on 127.0.0.1 in D (default .kafka) and print its bootstrap
      address. One node by default (port 9092; --port 0 picks a free one);
      --brokers N starts an N-node KRaft cluster on free ports (each node broker
      and controller, topics replicated 3 ways with min.insync.replicas 2). On a
      cluster's folder, start brings back the nodes that are not running, on
      their data and ports.
  stop [--dir D]      Stop every node
  status [--dir D]    Print the bootstrap address and each node's pid and port;
                      exit 0 if every node runs, else 1
  kill --node N [--signal S] [--dir D]
      Send S (default SIGKILL: a crash) to node N of the cluster
  fetch [--kafka-version V]
      Download the broker's jars from Maven Central with mvn (once) and print their dir

Needs java (17+) and mvn on PATH. Jars are cached in $HERALD_CACHE, else
$XDG_CACHE_HOME/herald, else ~/.cache/herald.`;

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) {
    throw new RangeError(`Invalid port "${text}": expected a number from 0 to 65535`);
  }
  return port;
}

function parseCount(name: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 9) {
    throw new RangeError(`Invalid --${name} "${text}": expected a number from 1 to 9`);
  }
  return n;
}

/** The running single node in `dir`, or null. */
async function runningSingle(dir: string) {
  const record = await readBrokerRecord(dir);
  return record && await isBrokerOf(record.pid, dir) ? record : null;
}

const OPTIONS: Record<string, string[]> = {
  start: ["dir", "port", "brokers", "kafka-version"],
  stop: ["dir"],
  status: ["dir"],
  kill: ["dir", "node", "signal"],
  fetch: ["kafka-version"],
};

/** Runs one `deno task kafka` command; resolves with the exit code, throws on bad usage. */
export async function runKafkaCommand(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    console.error(USAGE);
    return command === undefined ? 2 : 0;
  }
  const names = OPTIONS[command];
  if (!names) {
    throw new Error(
      `Unknown command "${command}": expected ${Object.keys(OPTIONS).join(", ")}`,
    );
  }
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: Object.fromEntries(names.map((n) => [n, { type: "string" as const }])),
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    const options = names.map((n) => `--${n}`).join(", ");
    throw new Error(
      `Invalid arguments for "${command}" (it takes ${options}): ${
        error instanceof Error ? error.message : error
      }`,
    );
  }
  const option = (name: string): string | undefined => {
    const value = values[name];
    return typeof value === "string" ? value : undefined;
  };
  const log = (msg: string) => console.error(msg);
  const version = option("kafka-version") ?? DEFAULT_KAFKA_VERSION;
  const dir = resolve(option("dir") ?? ".kafka");
  const cluster = await clusterStatus(dir);

  switch (command) {
    case "fetch": {
      console.log(await ensureKafkaJars({ version, log }));
      return 0;
    }
    case "status": {
      if (cluster) {
        for (const n of cluster.nodes) {
          console.error(
            `node ${n.id}  127.0.0.1:${n.port}  ${n.pid === null ? "not running" : `pid ${n.pid}`}`,
          );
        }
        console.log(cluster.brokers);
        return cluster.nodes.every((n) => n.pid !== null) ? 0 : 1;
      }
      const record = await runningSingle(dir);
      if (record) {
        console.error(`Kafka is running in "${dir}" (pid ${record.pid})`);
        console.log(record.brokers);
        return 0;
      }
      console.error(`Kafka is not running in "${dir}"`);
      return 1;
    }
    case "stop": {
      const started = performance.now();
      const pids = cluster
        ? cluster.nodes.flatMap((n) => n.pid === null ? [] : [n.pid])
        : [(await runningSingle(dir))?.pid].filter((p): p is number => p !== undefined);
      if (pids.length === 0) {
        console.error(`Kafka is not running in "${dir}"`);
        return 0;
      }
      console.error(`Stopping Kafka in "${dir}" (pid ${pids.join(", ")})`);
      await Promise.all(pids.map(stopPid));
      const pidFiles = cluster
        ? cluster.nodes.map((n) => join(nodeDir(dir, n.id), "broker.pid"))
        : [join(dir, "broker.pid")];
      for (const file of pidFiles) await Deno.remove(file).catch(() => {});
      console.error(`Stopped in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      return 0;
    }
    case "kill": {
      if (!cluster) throw new Error(`No cluster in "${dir}": kill takes a node of one`);
      const text = option("node");
      if (text === undefined) throw new TypeError(`kill needs --node N`);
      const id = parseCount("node", text);
      const node = cluster.nodes.find((n) => n.id === id);
      if (!node) throw new RangeError(`No node ${id}: the cluster has ${cluster.nodes.length}`);
      if (node.pid === null) {
        console.error(`Node ${id} is not running`);
        return 0;
      }
      const signal = (option("signal") ?? "SIGKILL").toUpperCase().replace(/^(?!SIG)/, "SIG");
      Deno.kill(node.pid, signal as Deno.Signal);
      console.error(`Sent ${signal} to node ${id} (pid ${node.pid})`);
      return 0;
    }
    case "start": {
      const brokersText = option("brokers");
      if (brokersText !== undefined || cluster) {
        if (option("port") !== undefined) {
          throw new TypeError(`--port is for one node: a cluster's nodes take free ports`);
        }
        if (!cluster && await isFormatted(dir)) {
          throw new Error(`"${dir}" holds a single node: pass another --dir for a cluster`);
        }
        const nodes = brokersText === undefined
          ? cluster!.nodes.length
          : parseCount("brokers", brokersText);
        const started = await startKafkaCluster({ dir, nodes, version, log });
        console.log(started.brokers);
        return 0;
      }
      const record = await runningSingle(dir);
      if (record) {
        console.error(`Kafka is already running in "${dir}" (pid ${record.pid})`);
        console.log(record.brokers);
        return 0;
      }
      const recorded = await readBrokerRecord(dir);
      const portText = option("port");
      const port = portText === undefined
        ? (await isFormatted(dir) && recorded?.port) || 9092
        : parsePort(portText);
      if (port !== 0 && !portIsFree(port)) {
        throw new Error(
          `Port ${port} on 127.0.0.1 is in use: stop what holds it, or pass --port N (0 for any free port)`,
        );
      }
      const broker = await startKafka({ dir, port: port || undefined, version, log });
      console.log(broker.brokers);
      return 0;
    }
  }
  return 2;
}

/**
 * One local Apache Kafka node (KRaft, broker and controller in one JVM) that
 * Herald owns: assembled from Maven Central jars (see `jars.ts`) and run with
 * the machine's Java 17+.
 *
 * ```ts
 * import { startKafka } from "./tools/kafka/mod.ts";
 *
 * const kafka = await startKafka();
 * try {
 *   // connect clients to kafka.brokers
 * } finally {
 *   await kafka.stop();
 *   await Deno.remove(kafka.dir, { recursive: true });
 * }
 * ```
 *
 * Works on Linux and macOS (it spawns through `sh`), not on Windows.
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import {
  brokerFiles,
  DEFAULT_KAFKA_VERSION,
  loggingFor,
  type NodeSpec,
  randomClusterId,
  serverProperties,
} from "./config.ts";
import { readFrom, readTextOrNull, removeIfExists } from "./files.ts";
import { ensureKafkaJars } from "./jars.ts";
import { choosePorts } from "./ports.ts";
import {
  checkJava,
  delay,
  isAlive,
  lastLines,
  run,
  signal,
  stopPid,
  waitForExit,
} from "./process.ts";
import { type BrokerRecord, isBrokerOf, isFormatted, readBrokerRecord } from "./status.ts";

/** The log line that tells the broker is serving. */
const READY_LINE = "Kafka Server started";

/** Options of {@linkcode startKafka}. */
export interface StartKafkaOptions {
  /**
   * Broker directory holding `server.properties`, `broker.log`, `broker.pid`,
   * `broker.json` and the log dir `data/` (default: a fresh temporary
   * directory, which the caller removes). Starting again on the same directory
   * keeps its data.
   */
  dir?: string;
  /**
   * Client (PLAINTEXT) port on 127.0.0.1. Default: the port recorded in
   * `dir/broker.json` if `dir` holds data and that port is free, else a free port.
   */
  port?: number;
  /** Controller port on 127.0.0.1, chosen like {@linkcode StartKafkaOptions.port}. */
  controllerPort?: number;
  /** Kafka version (default {@linkcode DEFAULT_KAFKA_VERSION}). */
  version?: string;
  /** How long to wait for the broker to be ready (default 120 000 ms). */
  timeoutMs?: number;
  /** JVM heap in MiB, used for both -Xms and -Xmx (default 512). */
  heapMb?: number;
  /** Receives progress messages (default: silent). */
  log?: (msg: string) => void;
}

/** A running broker started by {@linkcode startKafka}. */
export interface KafkaBroker {
  /** Bootstrap address for clients: `"127.0.0.1:<port>"`. */
  brokers: string;
  /** Client (PLAINTEXT) port on 127.0.0.1. */
  port: number;
  /** KRaft controller port on 127.0.0.1. */
  controllerPort: number;
  /** Absolute broker directory; its `broker.log` holds the broker's output. */
  dir: string;
  /** Process id of the broker's JVM. */
  pid: number;
  /**
   * Sends `signal` (default SIGTERM) and waits until the process has exited;
   * `kill("SIGKILL")` simulates a crash. Resolves at once if it already exited.
   */
  kill(signal?: Deno.Signal): Promise<void>;
  /** Controlled shutdown: SIGTERM, then SIGKILL if it is still running after 30 s. */
  stop(): Promise<void>;
}

/** What {@linkcode startNode} needs besides the node itself. */
export interface StartNodeOptions {
  /** The node's directory (`server.properties`, `broker.log`, `broker.pid`, `broker.json`, `data/`). */
  dir: string;
  node: NodeSpec;
  /** Cluster id for a log dir not formatted yet (default: a new random one). */
  clusterId?: string;
  version?: string;
  timeoutMs?: number;
  heapMb?: number;
  log?: (msg: string) => void;
}

/**
 * Starts one KRaft node (broker and controller) on 127.0.0.1 and resolves
 * once its log shows "Kafka Server started".
 *
 * Writes `server.properties` into `dir`, formats the log dir `dir/data` only
 * if it holds no `meta.properties` yet (so a node killed with SIGKILL can be
 * restarted on the same dir and ports and keeps its data), then runs
 * `java -cp '<lib>/*' kafka.Kafka server.properties` in its own session,
 * detached from this process: stdin is /dev/null, stdout and stderr are
 * appended to `dir/broker.log`, and nothing of it keeps Deno (or a test's
 * sanitizers) waiting, so the node outlives this process until stopped.
 * Records `dir/broker.pid` and `dir/broker.json` (`{brokers, port,
 * controllerPort, pid}`).
 *
 * Throws, with the last 30 lines of the log, if the node exits or is not
 * ready within `timeoutMs` (then it is killed); throws if a node already
 * runs on `dir`, or if `java` (17+ for Kafka 4) or `mvn` is missing.
 */
export async function startNode(options: StartNodeOptions): Promise<KafkaBroker> {
  const version = options.version ?? DEFAULT_KAFKA_VERSION;
  const log = options.log ?? (() => {});
  const timeoutMs = options.timeoutMs ?? 120_000;
  const heapMb = options.heapMb ?? 512;
  const { node } = options;
  const java = await checkJava(version);
  const lib = await ensureKafkaJars({ version, log });
  const logging = loggingFor(version);
  const loggingConfig = join(dirname(lib), logging.configName);

  const dir = resolve(options.dir);
  await Deno.mkdir(dir, { recursive: true });
  const files = brokerFiles(dir);
  const recorded = await readBrokerRecord(dir);
  if (recorded && await isBrokerOf(recorded.pid, dir)) {
    throw new Error(
      `Kafka is already running in "${dir}" at ${recorded.brokers} (pid ${recorded.pid})`,
    );
  }
  const { port, controllerPort } = node;
  const brokers = `127.0.0.1:${port}`;
  await Deno.writeTextFile(files.properties, serverProperties(node, files.data));

  const classpath = ["-cp", `${lib}/*`, logging.jvmFlag(loggingConfig)];
  if (!(await isFormatted(dir))) {
    log(`Formatting the Kafka log dir "${files.data}"`);
    const format = await run(java, [
      "-Xmx256m",
      ...classpath,
      "kafka.tools.StorageTool",
      "format",
      "-t",
      options.clusterId ?? randomClusterId(),
      "-c",
      files.properties,
    ], "Java 17");
    if (format.code !== 0) {
      throw new Error(
        `Cannot format the Kafka log dir "${files.data}": StorageTool exited with code ${format.code}:\n` +
          lastLines(format.stdout + format.stderr, 30),
      );
    }
  }

  const header = `\n=== ${new Date().toISOString()} tools/kafka: Kafka ${version} node ` +
    `${node.nodeId} on ${brokers}, controller 127.0.0.1:${controllerPort} ===\n`;
  await Deno.writeTextFile(files.log, header, { append: true });
  const offset = (await Deno.stat(files.log)).size;
  const args = [
    `-Xms${heapMb}m`,
    `-Xmx${heapMb}m`,
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
    ...classpath,
    "kafka.Kafka",
    files.properties,
  ];
  // `sh` starts the JVM in the background (in its own session when `setsid`
  // exists), prints its pid and exits: the JVM is not our child, so no handle
  // or pending op of this process waits on it.
  const script = `log=$1; shift
if command -v setsid >/dev/null 2>&1; then setsid "$@" </dev/null >>"$log" 2>&1 &
else "$@" </dev/null >>"$log" 2>&1 &
fi
echo $!`;
  log(`Starting Kafka ${version} node ${node.nodeId} on ${brokers} (log "${files.log}")`);
  const started = performance.now();
  const spawn = await run("sh", ["-c", script, "sh", files.log, java, ...args], "a POSIX sh");
  const pid = Number(spawn.stdout.trim());
  if (spawn.code !== 0 || !Number.isInteger(pid) || pid <= 0) {
    throw new Error(`Cannot start Kafka: sh printed "${spawn.stdout.trim()}" ${spawn.stderr}`);
  }
  await Deno.writeTextFile(files.pid, `${pid}\n`);
  const record: BrokerRecord = { brokers, port, controllerPort, pid };
  await Deno.writeTextFile(files.json, JSON.stringify(record, null, 2) + "\n");

  const decoder = new TextDecoder();
  const deadline = Date.now() + timeoutMs;
  let position = offset;
  let tail = "";
  const failure = async (why: string) => {
    const text = decoder.decode(await readFrom(files.log, offset));
    await removeIfExists(files.pid);
    const lines = text.trim() === "" ? "(nothing logged yet)" : lastLines(text, 30);
    return new Error(`${why}; last lines of "${files.log}":\n${lines}`);
  };
  for (;;) {
    const chunk = await readFrom(files.log, position);
    position += chunk.length;
    // Search all new text, then keep just enough to catch a line split across reads.
    const text = tail + decoder.decode(chunk, { stream: true });
    if (text.includes(READY_LINE)) break;
    tail = text.slice(-READY_LINE.length);
    if (!(await isAlive(pid))) {
      const rest = decoder.decode(await readFrom(files.log, position));
      if (rest.includes(READY_LINE)) break;
      throw await failure(`Kafka exited before it was ready (pid ${pid})`);
    }
    if (Date.now() >= deadline) {
      await signal(pid, "SIGKILL");
      await waitForExit(pid);
      throw await failure(
        `Kafka was not ready within ${timeoutMs} ms (no "${READY_LINE}"), so it was killed`,
      );
    }
    await delay(100);
  }
  log(
    `Kafka node ${node.nodeId} ready at ${brokers} in ` +
      `${((performance.now() - started) / 1000).toFixed(1)} s (pid ${pid})`,
  );

  return {
    brokers,
    port,
    controllerPort,
    dir,
    pid,
    async kill(sig: Deno.Signal = "SIGTERM") {
      await signal(pid, sig);
      await waitForExit(pid);
    },
    async stop() {
      await stopPid(pid);
      if ((await readTextOrNull(files.pid))?.trim() === String(pid)) {
        await removeIfExists(files.pid);
      }
    },
  };
}

/**
 * Starts a single-node KRaft Kafka broker on 127.0.0.1 (see
 * {@linkcode startNode}); `dir` defaults to a fresh temporary directory,
 * which the caller removes.
 */
export async function startKafka(options: StartKafkaOptions = {}): Promise<KafkaBroker> {
  const dir = options.dir === undefined
    ? await Deno.makeTempDir({ prefix: "herald-kafka-" })
    : resolve(options.dir);
  const recorded = await readBrokerRecord(dir);
  const formatted = await isFormatted(dir);
  const { port, controllerPort } = choosePorts(options, formatted ? recorded : undefined);
  return startNode({
    ...options,
    dir,
    node: { nodeId: 1, port, controllerPort, voters: `1@127.0.0.1:${controllerPort}` },
  });
}

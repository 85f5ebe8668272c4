/**
 * One local Apache Kafka node (KRaft, broker and controller in one JVM) that
 * Herald owns: assembled from Maven Central jars with `mvn` and run with the
 * machine's Java 17+. No Docker and no Apache tarball are needed.
 *
 * `org.apache.kafka:kafka_2.13` declares the broker's whole runtime classpath
 * except logging, so a tiny pom project plus
 * `maven-dependency-plugin:copy-dependencies` fetches every jar once into a
 * cache, and a log4j binding that logs to stderr is added.
 *
 * ```ts
 * import { startKafka } from "./tools/kafka/node.ts";
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

/** The Kafka version used when none is given. */
export const DEFAULT_KAFKA_VERSION = "4.1.1";

/** The log line that tells the broker is serving. */
const READY_LINE = "Kafka Server started";
const DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1";
const LOG4J2_VERSION = "2.24.3";
const CACHE_MARKER = "complete.json";
/** Temporary cache folders older than this are leftovers of killed fetches. */
const LEFTOVER_AGE_MS = 60 * 60 * 1000;

/** Options of {@linkcode ensureKafkaJars}. */
export interface EnsureKafkaJarsOptions {
  /** Kafka version, e.g. "4.1.1" (default {@linkcode DEFAULT_KAFKA_VERSION}). */
  version?: string;
  /**
   * Cache root (default `$HERALD_CACHE`, else `$XDG_CACHE_HOME/herald`, else
   * `$HOME/.cache/herald`). The jars go to `<cacheDir>/kafka-<version>/lib`.
   */
  cacheDir?: string;
  /** Receives progress messages (only printed when something is downloaded). */
  log?: (msg: string) => void;
}

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

/** What `broker.json` records. */
export interface BrokerRecord {
  brokers: string;
  port: number;
  controllerPort: number;
  pid: number;
}

interface Logging {
  /** Extra Maven dependencies: [groupId, artifactId, version]. */
  dependencies: [string, string, string][];
  configName: string;
  configText: string;
  jvmFlag(configPath: string): string;
}

// ---------------------------------------------------------------- jars

function parseVersion(version: string): number {
  const match = /^(\d+)\.(\d+)\.(\d+)$/.exec(version);
  if (!match) throw new Error(`Invalid Kafka version "${version}": expected MAJOR.MINOR.PATCH`);
  const major = Number(match[1]);
  if (major !== 3 && major !== 4) {
    throw new Error(`Unsupported Kafka version "${version}": expected 3.x or 4.x`);
  }
  return major;
}

function loggingFor(version: string): Logging {
  if (parseVersion(version) >= 4) {
    return {
      // Kafka 4 stays on slf4j-api 1.7, hence log4j-slf4j-impl (not -slf4j2-).
      dependencies: ["log4j-slf4j-impl", "log4j-api", "log4j-core"].map((a) => [
        "org.apache.logging.log4j",
        a,
        LOG4J2_VERSION,
      ]),
      configName: "log4j2.xml",
      configText: `<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by Herald's tools/kafka.ts: every broker log line goes to stderr; no
     shutdown hook, so the broker's own shutdown is logged to the end. -->
<Configuration status="WARN" shutdownHook="disable">
  <Appenders>
    <Console name="stderr" target="SYSTEM_ERR">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="INFO">
      <AppenderRef ref="stderr"/>
    </Root>
    <Logger name="kafka.request.logger" level="WARN"/>
  </Loggers>
</Configuration>
`,
      jvmFlag: (path) => `-Dlog4j2.configurationFile=${path}`,
    };
  }
  return {
    dependencies: [
      ["org.slf4j", "slf4j-reload4j", "1.7.36"],
      ["ch.qos.reload4j", "reload4j", "1.2.25"],
    ],
    configName: "log4j.properties",
    configText: `# Written by Herald's tools/kafka.ts: every broker log line goes to stderr.
log4j.rootLogger=INFO, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
`,
    jvmFlag: (path) => `-Dlog4j.configuration=file:${path}`,
  };
}

function pomFor(version: string, logging: Logging): string {
  const deps: [string, string, string][] = [
    ["org.apache.kafka", "kafka_2.13", version],
    ...logging.dependencies,
  ];
  const xml = deps.map(([g, a, v]) =>
    `    <dependency>
      <groupId>${g}</groupId>
      <artifactId>${a}</artifactId>
      <version>${v}</version>
    </dependency>`
  ).join("\n");
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by Herald's tools/kafka.ts: the runtime classpath of a Kafka broker. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.herald</groupId>
  <artifactId>kafka-broker-classpath</artifactId>
  <version>${version}</version>
  <packaging>pom</packaging>
  <dependencies>
${xml}
  </dependencies>
</project>
`;
}

function defaultCacheRoot(): string {
  const herald = Deno.env.get("HERALD_CACHE");
  if (herald) return herald;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "herald");
  const home = Deno.env.get("HOME");
  if (!home) throw new Error(`Cannot find a cache directory: set "HERALD_CACHE" or "HOME"`);
  return join(home, ".cache", "herald");
}

async function readTextOrNull(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Is `home` a finished cache for this pom: same pom, marker present, every jar there? */
async function cacheState(home: string, pom: string): Promise<"complete" | "missing" | "broken"> {
  if (!(await exists(home))) return "missing";
  if ((await readTextOrNull(join(home, "pom.xml"))) !== pom) return "broken";
  const marker = await readTextOrNull(join(home, CACHE_MARKER));
  if (marker === null) return "broken";
  let jars: unknown;
  try {
    jars = JSON.parse(marker).jars;
  } catch {
    return "broken";
  }
  if (!Array.isArray(jars) || jars.length === 0) return "broken";
  for (const jar of jars) {
    if (typeof jar !== "string" || !(await exists(join(home, "lib", jar)))) return "broken";
  }
  return "complete";
}

/** Writes `text` to `path` unless it already holds it, atomically (temp file + rename). */
async function writeTextIfChanged(path: string, text: string): Promise<void> {
  if ((await readTextOrNull(path)) === text) return;
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  await Deno.writeTextFile(tmp, text);
  await Deno.rename(tmp, path);
}

/** Removes temporary and discarded cache folders that killed processes left behind. */
async function removeLeftovers(root: string, version: string): Promise<void> {
  const prefixes = [`kafka-${version}.tmp-`, `kafka-${version}.stale-`];
  for await (const entry of Deno.readDir(root)) {
    if (!prefixes.some((p) => entry.name.startsWith(p))) continue;
    const path = join(root, entry.name);
    try {
      const { mtime } = await Deno.stat(path);
      const stale = entry.name.includes(".stale-") ||
        (mtime !== null && Date.now() - mtime.getTime() > LEFTOVER_AGE_MS);
      if (stale) await Deno.remove(path, { recursive: true });
    } catch {
      // Another process removed it first.
    }
  }
}

/** Runs a command to completion, turning "not found" into an install hint. */
async function run(
  cmd: string,
  args: string[],
  install: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`Cannot find "${cmd}" on PATH: install ${install}`, { cause: error });
    }
    throw error;
  }
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

function lastLines(text: string, count: number): string {
  return text.trimEnd().split("\n").slice(-count).join("\n");
}

/**
 * Makes sure every jar of a Kafka broker (plus a log4j binding) is in the
 * local cache, downloading them once from Maven Central with `mvn`, and
 * returns the directory holding them (`<cache>/kafka-<version>/lib`), for
 * `java -cp '<lib>/*'`. The cache also holds the generated `pom.xml` and the
 * logging config (`log4j2.xml` for 4.x, `log4j.properties` for 3.x).
 *
 * Safe to call from several processes at once: each builds into its own
 * temporary folder and renames it into place; a cache lacking its marker or
 * any jar (or built from another pom) is discarded and fetched again.
 */
export async function ensureKafkaJars(options: EnsureKafkaJarsOptions = {}): Promise<string> {
  const version = options.version ?? DEFAULT_KAFKA_VERSION;
  const log = options.log ?? (() => {});
  const logging = loggingFor(version);
  const root = resolve(options.cacheDir ?? defaultCacheRoot());
  const home = join(root, `kafka-${version}`);
  const lib = join(home, "lib");
  const pom = pomFor(version, logging);

  const state = await cacheState(home, pom);
  if (state === "complete") {
    await writeTextIfChanged(join(home, logging.configName), logging.configText);
    return lib;
  }
  await Deno.mkdir(root, { recursive: true });
  await removeLeftovers(root, version);
  if (state === "broken") {
    log(`Discarding the incomplete Kafka cache "${home}"`);
    const aside = `${home}.stale-${crypto.randomUUID()}`;
    try {
      await Deno.rename(home, aside);
      await Deno.remove(aside, { recursive: true });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }

  const tmp = await Deno.makeTempDir({ dir: root, prefix: `kafka-${version}.tmp-` });
  try {
    if (Deno.build.os !== "windows") await Deno.chmod(tmp, 0o755);
    await Deno.writeTextFile(join(tmp, "pom.xml"), pom);
    await Deno.writeTextFile(join(tmp, logging.configName), logging.configText);
    log(`Fetching Kafka ${version} jars from Maven Central with mvn into "${home}"`);
    const started = performance.now();
    const mvn = await run("mvn", [
      "-B",
      "-q",
      "-f",
      join(tmp, "pom.xml"),
      `${DEPENDENCY_PLUGIN}:copy-dependencies`,
      "-DincludeScope=runtime",
      `-DoutputDirectory=${join(tmp, "lib")}`,
    ], `Maven (Debian: "apt-get install maven")`);
    if (mvn.code !== 0) {
      throw new Error(
        `Cannot fetch Kafka ${version} jars: mvn exited with code ${mvn.code}:\n` +
          lastLines(mvn.stdout + mvn.stderr, 40),
      );
    }
    const jars: string[] = [];
    let bytes = 0;
    for await (const entry of Deno.readDir(join(tmp, "lib"))) {
      if (!entry.isFile || !entry.name.endsWith(".jar")) continue;
      jars.push(entry.name);
      bytes += (await Deno.stat(join(tmp, "lib", entry.name))).size;
    }
    if (!jars.some((j) => j.startsWith(`kafka_2.13-${version}`))) {
      throw new Error(
        `Cannot fetch Kafka ${version} jars: mvn copied no "kafka_2.13-${version}.jar"`,
      );
    }
    jars.sort();
    await Deno.writeTextFile(
      join(tmp, CACHE_MARKER),
      JSON.stringify({ version, fetched: new Date().toISOString(), jars }, null, 2) + "\n",
    );
    try {
      await Deno.rename(tmp, home);
    } catch (error) {
      // Another process finished first: use its cache.
      if ((await cacheState(home, pom)) !== "complete") throw error;
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    log(`Fetched ${jars.length} jars (${(bytes / 1048576).toFixed(1)} MiB) in ${seconds} s`);
  } finally {
    // Gone already when the rename succeeded.
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
  return lib;
}

// ---------------------------------------------------------------- processes

function javaCommand(): string {
  const javaHome = Deno.env.get("JAVA_HOME");
  if (javaHome) {
    const java = join(javaHome, "bin", "java");
    try {
      Deno.statSync(java);
      return java;
    } catch {
      // Fall back to PATH.
    }
  }
  return "java";
}

/** Returns the java executable after checking it is new enough for `version`. */
async function checkJava(version: string): Promise<string> {
  const java = javaCommand();
  const needed = parseVersion(version) >= 4 ? 17 : 11;
  const install = `Java ${needed} or newer (Debian: "apt-get install openjdk-17-jre-headless")`;
  const { stdout, stderr } = await run(java, ["-version"], install);
  const match = /version "(\d+)(?:\.(\d+))?/.exec(stderr + stdout);
  if (!match) throw new Error(`Cannot tell the version of "${java}": ${lastLines(stderr, 3)}`);
  const major = match[1] === "1" ? Number(match[2]) : Number(match[1]);
  if (major < needed) {
    throw new Error(`Kafka ${version} needs ${install}, but "${java}" is Java ${major}`);
  }
  return java;
}

/** Is `pid` a live (not zombie) process? */
async function isAlive(pid: number): Promise<boolean> {
  if (Deno.build.os === "linux") {
    let stat: string;
    try {
      stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
    const state = stat.charAt(stat.lastIndexOf(")") + 2);
    return state !== "Z" && state !== "X";
  }
  const { success } = await new Deno.Command("kill", {
    args: ["-0", String(pid)],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
  return success;
}

async function commandLine(pid: number): Promise<string> {
  if (Deno.build.os === "linux") {
    const text = await readTextOrNull(`/proc/${pid}/cmdline`);
    return (text ?? "").replaceAll("\0", " ");
  }
  const { stdout } = await run("ps", ["-o", "command=", "-p", String(pid)], "ps");
  return stdout;
}

/** Is `pid` a live Kafka broker running on `dir` (not some process that reused the pid)? */
export async function isBrokerOf(pid: number, dir: string): Promise<boolean> {
  if (!(await isAlive(pid))) return false;
  const cmd = await commandLine(pid);
  return cmd.includes("kafka.Kafka") && cmd.includes(join(dir, "server.properties"));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Sends `signal` to `pid`; a process that is already gone is not an error. */
async function signal(pid: number, sig: Deno.Signal): Promise<void> {
  try {
    Deno.kill(pid, sig);
  } catch (error) {
    if (await isAlive(pid)) throw error;
  }
}

/** Waits until `pid` has exited; false if it still runs after `timeoutMs`. */
async function waitForExit(pid: number, timeoutMs = Infinity): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (await isAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await delay(50);
  }
  return true;
}

/** SIGTERM, up to 30 s for a controlled shutdown, then SIGKILL. */
export async function stopPid(pid: number): Promise<void> {
  if (!(await isAlive(pid))) return;
  await signal(pid, "SIGTERM");
  if (await waitForExit(pid, 30_000)) return;
  await signal(pid, "SIGKILL");
  await waitForExit(pid);
}

// ---------------------------------------------------------------- broker

function brokerFiles(dir: string) {
  return {
    properties: join(dir, "server.properties"),
    log: join(dir, "broker.log"),
    pid: join(dir, "broker.pid"),
    json: join(dir, "broker.json"),
    data: join(dir, "data"),
  };
}

/** The record a node keeps in `dir/broker.json`, if readable. */
export async function readBrokerRecord(dir: string): Promise<BrokerRecord | undefined> {
  const text = await readTextOrNull(brokerFiles(dir).json);
  if (text === null) return undefined;
  try {
    const r = JSON.parse(text);
    const ok = typeof r.brokers === "string" && Number.isInteger(r.port) &&
      Number.isInteger(r.controllerPort) && Number.isInteger(r.pid);
    return ok ? r : undefined;
  } catch {
    return undefined;
  }
}

/** Whether nothing listens on `port` of 127.0.0.1. */
export function portIsFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) return false;
    throw error;
  }
}

/** Picks the two ports, holding each candidate bound until both are chosen. */
function choosePorts(
  wanted: { port?: number; controllerPort?: number },
  recorded: BrokerRecord | undefined,
): { port: number; controllerPort: number } {
  if (wanted.port && wanted.port === wanted.controllerPort) {
    throw new Error(`Cannot use port ${wanted.port} for both clients and the controller`);
  }
  const held: Deno.Listener[] = [];
  const hold = (port: number): boolean => {
    try {
      held.push(Deno.listen({ hostname: "127.0.0.1", port }));
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.AddrInUse) return false;
      throw error;
    }
  };
  const pick = (want: number | undefined, previous: number | undefined, what: string) => {
    if (want) {
      if (!hold(want)) {
        throw new Error(
          `Cannot use port ${want} for the Kafka ${what}: 127.0.0.1:${want} is in use`,
        );
      }
      return want;
    }
    if (previous && hold(previous)) return previous;
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    held.push(listener);
    return (listener.addr as Deno.NetAddr).port;
  };
  try {
    const port = pick(wanted.port, recorded?.port, "broker");
    const controllerPort = pick(wanted.controllerPort, recorded?.controllerPort, "controller");
    return { port, controllerPort };
  } finally {
    for (const listener of held) listener.close();
  }
}

/** One KRaft node of a cluster: its id, ports and the whole quorum. */
export interface NodeSpec {
  nodeId: number;
  port: number;
  controllerPort: number;
  /** `controller.quorum.voters`: `<id>@127.0.0.1:<controller port>`, comma-separated. */
  voters: string;
  /** Properties added after the common ones (replication settings of a cluster). */
  extra?: Record<string, string | number | boolean>;
}

/** Properties of a lone node: every internal topic has one replica. */
const SINGLE_NODE_EXTRA = {
  "num.partitions": 1,
  "offsets.topic.replication.factor": 1,
  "offsets.topic.num.partitions": 1,
  "transaction.state.log.replication.factor": 1,
  "transaction.state.log.min.isr": 1,
};

function serverProperties(node: NodeSpec, logDir: string): string {
  const escape = (value: string) => value.replaceAll("\\", "\\\\");
  const extra = Object.entries(node.extra ?? SINGLE_NODE_EXTRA).map(([k, v]) => `${k}=${v}`);
  return `# Written by Herald's tools/kafka.ts on every start: a KRaft node, broker and controller.
process.roles=broker,controller
node.id=${node.nodeId}
controller.quorum.voters=${node.voters}
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:${node.port},CONTROLLER://127.0.0.1:${node.controllerPort}
advertised.listeners=PLAINTEXT://127.0.0.1:${node.port}
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=${escape(logDir)}
group.initial.rebalance.delay.ms=0
log.cleaner.dedupe.buffer.size=33554432
${extra.join("\n")}
`;
}

/** A Kafka cluster id: 16 random bytes in url-safe base64 without padding, not starting with "-". */
export function randomClusterId(): string {
  for (;;) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    const id = btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
      .replace(/=+$/, "");
    if (!id.startsWith("-")) return id;
  }
}

/** Reads `path` from byte `position` to its end. */
async function readFrom(path: string, position: number): Promise<Uint8Array> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return new Uint8Array();
    throw error;
  }
  try {
    await file.seek(position, Deno.SeekMode.Start);
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(65536);
    for (;;) {
      const n = await file.read(buffer);
      if (n === null || n === 0) break;
      chunks.push(buffer.slice(0, n));
    }
    const out = new Uint8Array(chunks.reduce((sum, c) => sum + c.length, 0));
    let offset = 0;
    for (const chunk of chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  } finally {
    file.close();
  }
}

async function removeIfExists(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
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

  const header = `\n=== ${new Date().toISOString()} tools/kafka.ts: Kafka ${version} node ` +
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

/** Whether the node directory `dir` holds a formatted log dir. */
export function isFormatted(dir: string): Promise<boolean> {
  return exists(join(brokerFiles(dir).data, "meta.properties"));
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

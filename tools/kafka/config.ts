/**
 * What a local Kafka node runs with: the Kafka version, the log4j binding and
 * its config (log4j 2 for Kafka 4.x, reload4j for 3.x), the `server.properties`
 * of a KRaft node and the files of a node's directory.
 *
 * @module
 */
import { join } from "node:path";

/** The Kafka version used when none is given. */
export const DEFAULT_KAFKA_VERSION = "4.1.1";

const LOG4J2_VERSION = "2.24.3";

/** The logging of a broker: its Maven jars, its config file and the JVM flag that names it. */
export interface Logging {
  /** Extra Maven dependencies: [groupId, artifactId, version]. */
  dependencies: [string, string, string][];
  configName: string;
  configText: string;
  jvmFlag(configPath: string): string;
}

/** The major version (3 or 4) of a Kafka `version`; throws on any other. */
export function parseVersion(version: string): number {
  const match = /^(\d+)\.(\d+)\.(\d+)$/.exec(version);
  if (!match) throw new Error(`Invalid Kafka version "${version}": expected MAJOR.MINOR.PATCH`);
  const major = Number(match[1]);
  if (major !== 3 && major !== 4) {
    throw new Error(`Unsupported Kafka version "${version}": expected 3.x or 4.x`);
  }
  return major;
}

/** The log4j binding of Kafka `version` and its config: every broker log line to stderr. */
export function loggingFor(version: string): Logging {
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
<!-- Written by Herald's tools/kafka: every broker log line goes to stderr; no
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
    configText: `# Written by Herald's tools/kafka: every broker log line goes to stderr.
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

/** The files of a node directory. */
export function brokerFiles(dir: string) {
  return {
    properties: join(dir, "server.properties"),
    log: join(dir, "broker.log"),
    pid: join(dir, "broker.pid"),
    json: join(dir, "broker.json"),
    data: join(dir, "data"),
  };
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

/** The `server.properties` of `node`, its log dir `logDir`. */
export function serverProperties(node: NodeSpec, logDir: string): string {
  const escape = (value: string) => value.replaceAll("\\", "\\\\");
  const extra = Object.entries(node.extra ?? SINGLE_NODE_EXTRA).map(([k, v]) => `${k}=${v}`);
  return `# Written by Herald's tools/kafka on every start: a KRaft node, broker and controller.
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

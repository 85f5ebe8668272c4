/**
 * The state of a node directory: the record of its last start
 * (`broker.json`), whether its log dir is formatted, and whether a pid is
 * the broker running on it.
 *
 * @module
 */
import { join } from "node:path";
import { brokerFiles } from "./config.ts";
import { exists, readTextOrNull } from "./files.ts";
import { commandLine, isAlive } from "./process.ts";

/** What `broker.json` records. */
export interface BrokerRecord {
  brokers: string;
  port: number;
  controllerPort: number;
  pid: number;
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

/** Whether the node directory `dir` holds a formatted log dir. */
export function isFormatted(dir: string): Promise<boolean> {
  return exists(join(brokerFiles(dir).data, "meta.properties"));
}

/** Is `pid` a live Kafka broker running on `dir` (not some process that reused the pid)? */
export async function isBrokerOf(pid: number, dir: string): Promise<boolean> {
  if (!(await isAlive(pid))) return false;
  const cmd = await commandLine(pid);
  return cmd.includes("kafka.Kafka") && cmd.includes(join(dir, "server.properties"));
}

/** Test helpers around a real Kafka broker started by `tools/kafka`. */
import { readTopics } from "../tools/kafka/read.ts";
import { createTopic, produceValues } from "../tools/kafka/write.ts";

/** Whether `cmd` runs on this machine. */
export async function hasCommand(cmd: string, args = ["--version"]): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" })
      .output();
    return success;
  } catch {
    return false;
  }
}

/**
 * Why Kafka tests cannot run here, or null. Outside CI a missing Java or Maven
 * ignores them (reported as ignored, never as passed); under `CI=true` they
 * run and fail loudly instead.
 */
export async function kafkaUnavailable(): Promise<string | null> {
  if (Deno.env.get("CI") === "true") return null;
  for (const cmd of ["java", "mvn"]) {
    if (!(await hasCommand(cmd, ["-version"]))) return `"${cmd}" is not installed`;
  }
  return null;
}

/** A received record. */
export interface Received {
  topic: string;
  key: string | null;
  value: Record<string, unknown>;
  headers: Record<string, string>;
}

/**
 * Every record of `topics`, read from the beginning up to their end offsets
 * (so a duplicate would be there too), with values parsed as JSON.
 */
export async function consumeAll(
  brokers: string,
  topics: string[],
  options: { timeoutMs?: number } = {},
): Promise<Received[]> {
  const records = await readTopics(brokers, topics, options);
  return records.map((r) => ({
    topic: r.topic,
    key: r.key,
    value: JSON.parse(r.value),
    headers: r.headers,
  }));
}

/** Creates `topic` (one partition) and writes `values` to it, in order. */
export async function produce(brokers: string, topic: string, values: string[]): Promise<void> {
  await createTopic(brokers, topic);
  await produceValues(brokers, topic, values);
}

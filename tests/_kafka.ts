/** Test helpers around a real Kafka broker started by `tools/kafka.ts`. */
import { Kafka, logLevel } from "kafkajs";

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

/** Reads every record of `topics` from the beginning until `expected` arrived or `idleMs` passed without one. */
export async function consumeAll(
  brokers: string,
  topics: string[],
  options: { expected?: number; idleMs?: number; timeoutMs?: number } = {},
): Promise<Received[]> {
  const kafka = new Kafka({
    brokers: [brokers],
    clientId: "herald-test",
    logLevel: logLevel.NOTHING,
  });
  const consumer = kafka.consumer({ groupId: `test-${crypto.randomUUID()}` });
  const received: Received[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    let last = Date.now();
    await consumer.run({
      eachMessage: ({ topic, message }) => {
        last = Date.now();
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
        received.push({
          topic,
          key: message.key?.toString() ?? null,
          value: JSON.parse(message.value!.toString()),
          headers,
        });
        return Promise.resolve();
      },
    });
    const started = Date.now();
    const idle = options.idleMs ?? 3000;
    while (Date.now() - started < (options.timeoutMs ?? 60_000)) {
      if (options.expected !== undefined && received.length >= options.expected) {
        // Linger a little: more than expected would be a duplicate we want to see.
        await new Promise((r) => setTimeout(r, 500));
        break;
      }
      if (received.length > 0 && options.expected === undefined && Date.now() - last > idle) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await consumer.disconnect();
  }
  return received;
}

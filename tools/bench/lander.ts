/**
 * The lander's rows of the bench: how fast `deno task land` drains a backlog
 * of 300k records on one partition into the lake, and how soon a lander
 * killed with -9 and restarted with the same `--instance-id` lands again.
 *
 * @module
 */
import { createTopic, produceValues } from "../kafka/write.ts";
import { taskArgs } from "../drill/task.ts";
import { markdownTable } from "./tables.ts";

/** What {@linkcode measureLander} found. */
export interface LanderMeasurement {
  records: number;
  /** From the lander's "landing" line to the commit past the last record, in s. */
  drainS: number;
  recordsPerS: number;
  /** From kill -9 to the restarted lander's first commit, in s. */
  restartS: number;
  /** From a second lander's spawn to its assignment of half of 4 partitions, in s. */
  joinS: number;
}

/** Targets of the lander rows. */
export const LANDER_TARGETS = { recordsPerS: 150_000, restartS: 5, joinS: 5 };

const LAND_ARGS = taskArgs("land");

/** A sword purchase as the Kafka sink writes it. */
function record(i: number): string {
  const host = `user${i % 10}.comcast.com`;
  return JSON.stringify({
    event_id: crypto.randomUUID(),
    event_type: "purchase_sword",
    action: "purchase_a_sword",
    received_at: new Date().toISOString(),
    host,
    user_agent: "ApacheBench/2.3",
    accept: "*/*",
    client_ip: "127.0.0.1",
    request_id: crypto.randomUUID(),
    description: "sword",
    sword_type: "large",
    strength: i % 11,
  });
}

/** A lander process whose stderr is watched until `done` says so. */
async function runLander(
  env: Record<string, string>,
  flags: string[],
  done: (stderr: string) => boolean,
): Promise<{ child: Deno.ChildProcess; landingAt: number; doneAt: number }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...LAND_ARGS, "--progress-interval-ms", "100", ...flags],
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let text = "";
  let landingAt = 0;
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done: ended } = await reader.read();
    if (ended) throw new Error(`the lander exited early: ${text.slice(-800)}`);
    text += value;
    if (!landingAt && text.includes('"msg":"landing"')) landingAt = performance.now();
    if (landingAt && done(text)) break;
  }
  // Keep draining stderr so the lander never blocks on a full pipe.
  void reader.read().then(function more(r): unknown {
    return r.done ? undefined : reader.read().then(more);
  }).catch(() => {});
  return { child, landingAt, doneAt: performance.now() };
}

/** The partitions of the last "partitions assigned" line of `text`. */
function assignedCount(text: string): number {
  const lines = [...text.matchAll(/"assigned":(\{[^}]*\})/g)];
  const last = lines.at(-1);
  if (!last) return -1;
  return Object.values(JSON.parse(last[1]!) as Record<string, number[]>).flat().length;
}

/** One lander owns a 4-partition topic; times a second one's spawn to owning 2 of them. */
async function measureJoin(brokers: string, env: Record<string, string>): Promise<number> {
  const topic = `bench-join-${crypto.randomUUID().slice(0, 8)}`;
  await createTopic(brokers, topic, 4);
  const flags = ["--topics", topic, "--group", `g-${topic}`];
  const a = await runLander(env, [...flags, "--instance-id", "a"], (t) => assignedCount(t) === 4);
  try {
    const spawnedAt = performance.now();
    const b = await runLander(env, [...flags, "--instance-id", "b"], (t) => assignedCount(t) === 2);
    const joinS = (b.doneAt - spawnedAt) / 1000;
    b.child.kill("SIGTERM");
    await b.child.status;
    return joinS;
  } finally {
    a.child.kill("SIGTERM");
    await a.child.status;
  }
}

/** Drains 300k records, then kills the lander and times its restart. */
export async function measureLander(
  brokers: string,
  options: { records?: number; log?: (line: string) => void } = {},
): Promise<LanderMeasurement> {
  const records = options.records ?? 300_000;
  const log = options.log ?? (() => {});
  const topic = `bench-land-${crypto.randomUUID().slice(0, 8)}`;
  const lake = await Deno.makeTempDir({ prefix: "herald-bench-lake-" });
  await createTopic(brokers, topic, 1);
  await produceValues(brokers, topic, Array.from({ length: records }, (_, i) => record(i)));
  log(`lander: ${records} records on ${topic}; draining`);
  const env = { KAFKA_BROKERS: brokers, HERALD_LAKE: lake, NO_COLOR: "1" };
  const flags = ["--topics", topic, "--group", `g-${topic}`, "--instance-id", "bench-lander"];
  const commits = (n: number) => (text: string) =>
    [...text.matchAll(/"commits":(\d+)/g)].some((m) => Number(m[1]) >= n);
  try {
    const ranges = Math.ceil(records / 100_000);
    const drain = await runLander(env, [...flags, "--flush-rows", "100000"], commits(ranges));
    const drainS = (drain.doneAt - drain.landingAt) / 1000;
    drain.child.kill("SIGKILL");
    await drain.child.status;
    const killedAt = performance.now();
    await produceValues(brokers, topic, [record(records)]);
    const again = await runLander(env, [...flags, "--flush-interval-ms", "100"], commits(1));
    const restartS = (again.doneAt - killedAt) / 1000;
    again.child.kill("SIGTERM");
    await again.child.status;
    const joinS = await measureJoin(brokers, env);
    return { records, drainS, recordsPerS: records / drainS, restartS, joinS };
  } finally {
    await Deno.remove(lake, { recursive: true }).catch(() => {});
  }
}

/** What the lander rows measure, for the report. */
export const LANDER_NOTE =
  "- `tools/bench/lander.ts`, on the bench's broker after the targets: 300k sword events produced " +
  "to one partition, then `deno task land --flush-rows 100000 --instance-id bench-lander`; the " +
  "drain runs from the lander's `landing` line to the progress line showing the third commit " +
  "(progress every 100 ms). Then kill -9, one more record, and the same command again: the time " +
  "from the kill to its first commit. Last, one lander owns a 4-partition topic and a second " +
  "one starts: the time from its spawn to its log line assigning it 2 partitions.";

/** The lander rows as Markdown, with PASS or FAIL against the targets. */
export function renderLander(m: LanderMeasurement): string {
  const t = LANDER_TARGETS;
  const verdict = (ok: boolean) => (ok ? "PASS" : "FAIL");
  return markdownTable(["measurement", "result", "target", "verdict"], [
    [
      `backlog drain, ${m.records.toLocaleString("en-US")} records on 1 partition`,
      `${Math.round(m.recordsPerS).toLocaleString("en-US")} records/s (${m.drainS.toFixed(1)} s)`,
      `>= ${t.recordsPerS.toLocaleString("en-US")} records/s`,
      verdict(m.recordsPerS >= t.recordsPerS),
    ],
    [
      "kill -9, restart with the same `--instance-id`: lands again after",
      `${m.restartS.toFixed(1)} s`,
      `<= ${t.restartS} s`,
      verdict(m.restartS <= t.restartS),
    ],
    [
      "a second lander joins a group owning 4 partitions: owns 2 after",
      `${m.joinS.toFixed(1)} s`,
      `<= ${t.joinS} s`,
      verdict(m.joinS <= t.joinS),
    ],
  ]);
}

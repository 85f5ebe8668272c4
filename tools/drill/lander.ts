/**
 * The lander as the drills run it: `deno task land` as a user runs it, in a
 * consumer group, landing the drill's topic into the drill's lake and
 * flushing often, so a kill -9 finds ranges claimed or written but not yet
 * committed.
 *
 * @module
 */
import { spawnTask, type TaskProcess } from "./task.ts";

/** A running lander. */
export interface DrillLander extends TaskProcess {
  /** The partitions of `topic` in its last "partitions assigned" line (none before it joins). */
  assigned(topic: string): number[];
  /** How many claimed ranges it rebuilt (claimed by a lander that died before committing them). */
  rebuilt(): number;
}

/** Options of {@linkcode spawnLander}. */
export interface LanderSpawnOptions {
  config: string;
  lake: string;
  brokers: string;
  group: string;
}

/**
 * Flush a range every 500 ms or 2000 records; a dead member's partitions
 * move after 6 s (the broker's lowest session timeout).
 */
const FLAGS = [
  "--flush-interval-ms",
  "500",
  "--flush-rows",
  "2000",
  "--progress-interval-ms",
  "1000",
  "--session-timeout-ms",
  "6000",
];

/** Spawns a lander; resolves once it has joined its group and logged "landing". */
export async function spawnLander(options: LanderSpawnOptions): Promise<DrillLander> {
  const task = await spawnTask(
    "land",
    ["--config", options.config, "--group", options.group, ...FLAGS],
    {
      env: { KAFKA_BROKERS: options.brokers, HERALD_LAKE: options.lake },
      ready: /"msg":"landing"/,
    },
  );
  return {
    ...task,
    assigned(topic) {
      const lines = [...task.stderr().matchAll(/"assigned":(\{[^}]*\})/g)];
      const last = lines.at(-1);
      return last ? (JSON.parse(last[1]!)[topic] ?? []) : [];
    },
    rebuilt: () => task.stderr().split('"msg":"rebuilding a claimed range"').length - 1,
  };
}

/**
 * The fault drills, as a library: {@linkcode DRILLS} by name,
 * {@linkcode drillContext} for the broker and cluster they share,
 * {@linkcode runDrills} to run some, {@linkcode formatReport} for their table.
 * `main.ts` is `deno task drill`.
 *
 * @module
 */
export type { Drill, DrillContext, DrillResult, SharedBroker } from "./types.ts";
export { drillContext, DRILLS, runDrills } from "./drills.ts";
export { tmpfsUnavailable } from "./disk_drills.ts";
export { formatReport } from "./report.ts";
export {
  drillConfig,
  type Herald,
  type HeraldOptions,
  spawnHerald,
  type SpawnOptions,
  startHerald,
  waitReady,
} from "./herald.ts";
export { spawnTask, taskArgs, type TaskProcess } from "./task.ts";

/**
 * The Kafka -> Parquet lander (the seeds' Spark streaming job), as a library:
 * {@linkcode startLander} consumes Herald's topics in a consumer group and
 * lands every record in the lake exactly once. `main.ts` is `deno task land`.
 *
 * @module
 */
export { type Lander, type LanderOptions, type LanderStats, startLander } from "./lander.ts";
export { REJECTED_TABLE, type Routed, routeRecord } from "./route.ts";
export { claim, pruneClaims, type Range, readClaim } from "./claims.ts";

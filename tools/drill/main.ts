/**
 * `deno task drill`: fault drills against real processes. Each drill runs
 * Herald (sinks Kafka and Parquet, plus stdout for `sigterm`) under load from
 * concurrent clients, breaks something, repairs it, stops Herald, then checks
 * that every acknowledged request (each carries a unique `oid`) is in Kafka,
 * in the lake (and on stdout) exactly once.
 *
 * ```sh
 * deno task drill                                  # every drill
 * deno task drill --only sigterm,broker-stop --seconds 4
 * deno task drill --json                           # the results as JSON on stdout
 * ```
 *
 * Needs Java 17 and Maven (for the broker, see tools/kafka/) and, for the
 * disk-full drills, root on Linux (they mount a tmpfs). Exit code 1 when a
 * drill misses an acknowledged event, stores one twice, fails an assertion,
 * or cannot run under `CI=true`. The cluster drills run a 3-node cluster.
 *
 * The command line is `cli.ts`, the drills `drills.ts`; the library is `mod.ts`.
 *
 * @module
 */
import { runDrillCommand } from "./cli.ts";

if (import.meta.main) Deno.exit(await runDrillCommand(Deno.args));

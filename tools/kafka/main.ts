/**
 * `deno task kafka`: a local Kafka for users without Docker, one node or a
 * cluster, from Maven Central jars. The commands are `cli.ts`; the library
 * is `mod.ts`.
 *
 * @module
 */
import { runKafkaCommand } from "./cli.ts";

if (import.meta.main) {
  try {
    Deno.exit(await runKafkaCommand(Deno.args));
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    Deno.exit(1);
  }
}

/**
 * The fault drills of `deno task drill` that run against one broker (Herald
 * killed or stopped, the broker killed or stopped, the disk full), as tests:
 * each drill runs against real processes (Herald, a Kafka broker, a tmpfs
 * lake) and must lose no acknowledged event, store none twice, and pass its
 * own checks. The cluster drills are in drill_cluster_test.ts, so the two
 * files run in parallel.
 */
import { drillContext, DRILLS, tmpfsUnavailable } from "../../tools/drill/mod.ts";
import { assertDrillPassed, kafkaUnavailable } from "../_testing.ts";

const ci = Deno.env.get("CI") === "true";
const noKafka = await kafkaUnavailable("Drill tests");
const noTmpfs = ci ? null : await tmpfsUnavailable();
if (noTmpfs) {
  console.error(`Disk-full drill tests ignored: ${noTmpfs} (they run and fail in CI)`);
}

Deno.test({
  name: "fault drills on one broker",
  ignore: noKafka !== null,
  // The Kafka client keeps timers and sockets of its own between steps.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const ctx = drillContext({ seconds: 3 });
    try {
      for (const [name, drill] of Object.entries(DRILLS)) {
        if (name.startsWith("cluster-")) continue;
        const diskFull = name.startsWith("disk-full");
        await t.step({
          name,
          ignore: diskFull && noTmpfs !== null,
          sanitizeOps: false,
          sanitizeResources: false,
          fn: async () => assertDrillPassed(await drill(ctx)),
        });
      }
    } finally {
      await ctx.close();
    }
  },
});

/**
 * The cluster drills of `deno task drill` as tests: a 3-node KRaft cluster
 * loses a partition leader, the controller or a stopped broker under load,
 * and Herald must lose no acknowledged event and store none twice; then
 * `deno task kafka` manages the drills' cluster as a user would.
 */
import assert from "node:assert/strict";
import { drillContext, DRILLS } from "../../tools/drill/mod.ts";
import { assertDrillPassed, kafkaUnavailable, runTask, waitFor } from "../_testing.ts";

const noKafka = await kafkaUnavailable("Drill tests");

/** Runs `deno task kafka ...args` as a user would. */
function kafkaTask(...args: string[]) {
  return runTask("kafka", args);
}

Deno.test({
  name: "fault drills on a 3-node cluster",
  ignore: noKafka !== null,
  // The Kafka client keeps timers and sockets of its own between steps.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const ctx = drillContext({ seconds: 3 });
    try {
      for (const [name, drill] of Object.entries(DRILLS)) {
        if (!name.startsWith("cluster-")) continue;
        await t.step({
          name,
          sanitizeOps: false,
          sanitizeResources: false,
          fn: async () => assertDrillPassed(await drill(ctx)),
        });
      }
      await t.step({
        name: "deno task kafka status, kill --node and start on the drills' cluster",
        sanitizeOps: false,
        sanitizeResources: false,
        fn: async () => {
          const cluster = await ctx.cluster();
          const status = await kafkaTask("status", "--dir", cluster.dir);
          assert.equal(status.code, 0, status.stderr);
          assert.equal(status.stdout.trim(), cluster.brokers);
          assert.equal(status.stderr.match(/pid \d+/g)?.length, 3, status.stderr);
          const killed = await kafkaTask("kill", "--node", "3", "--dir", cluster.dir);
          assert.equal(killed.code, 0, killed.stderr);
          // A killed JVM takes a moment to be gone.
          await waitFor(async () => (await kafkaTask("status", "--dir", cluster.dir)).code === 1, {
            what: '"kafka status" to exit 1',
            timeoutMs: 120_000,
            intervalMs: 200,
          });
          assert.match(
            (await kafkaTask("status", "--dir", cluster.dir)).stderr,
            /node 3 .*not running/,
          );
          const started = await kafkaTask("start", "--dir", cluster.dir);
          assert.equal(started.code, 0, started.stderr);
          assert.equal(started.stdout.trim(), cluster.brokers, "same nodes, same ports");
          assert.equal((await kafkaTask("status", "--dir", cluster.dir)).code, 0);
          assert.notEqual(await cluster.pidOf(3), null, "the cluster finds the restarted node");
        },
      });
    } finally {
      await ctx.close();
    }
  },
});

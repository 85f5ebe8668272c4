/**
 * The fault drills of `deno task drill`, as tests: each drill runs against
 * real processes (Herald, a Kafka broker, a tmpfs lake) and must lose no
 * acknowledged event, store none twice, and pass its own checks.
 */
import assert from "node:assert/strict";
import { drillContext, type DrillResult, DRILLS, tmpfsUnavailable } from "../tools/drill/drills.ts";
import { formatReport } from "../tools/drill.ts";
import { kafkaUnavailable } from "./_kafka.ts";

const ci = Deno.env.get("CI") === "true";
const noKafka = await kafkaUnavailable();
if (noKafka) console.error(`Drill tests ignored: ${noKafka} (they run and fail in CI)`);
const noTmpfs = ci ? null : await tmpfsUnavailable();
if (noTmpfs) {
  console.error(`Disk-full drill tests ignored: ${noTmpfs} (they run and fail in CI)`);
}

function assertPassed(result: DrillResult): void {
  const report = formatReport([result]);
  console.error(report);
  assert.equal(result.notRun, null, `not run: ${result.notRun}`);
  assert.deepEqual(result.failures, [], report);
  assert.equal(result.missing, 0, `missing obligations\n${report}`);
  assert.equal(result.duplicated, 0, `duplicated obligations\n${report}`);
  assert.ok(result.counts.ok > 0, "some requests were acknowledged");
  assert.ok(result.ok, report);
}

Deno.test({
  name: "fault drills",
  ignore: noKafka !== null,
  // The Kafka client keeps timers and sockets of its own between steps.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const ctx = drillContext({ seconds: 3 });
    try {
      for (const [name, drill] of Object.entries(DRILLS)) {
        const diskFull = name.startsWith("disk-full");
        await t.step({
          name,
          ignore: diskFull && noTmpfs !== null,
          sanitizeOps: false,
          sanitizeResources: false,
          fn: async () => assertPassed(await drill(ctx)),
        });
      }
    } finally {
      await ctx.close();
    }
  },
});

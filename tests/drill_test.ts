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

/**
 * Drills that expose a known Herald bug are listed here with the bug; they are
 * ignored (loudly) unless HERALD_DRILL_KNOWN_BUGS=1, and `deno task drill`
 * still runs and reports them. Remove an entry once its bug is fixed.
 */
const KNOWN_BUGS: Record<string, string> = {
  "disk-full-kill9": "a log write cut short by ENOSPC leaves a torn line in the write-ahead " +
    "log; the next acknowledged event is appended to it and is lost if Herald " +
    "crashes before the segment is rolled (sinks/parquet.ts, GroupCommit flush in openSegment)",
};
const runKnownBugs = Deno.env.get("HERALD_DRILL_KNOWN_BUGS") === "1";
for (const [name, bug] of Object.entries(KNOWN_BUGS)) {
  if (!runKnownBugs) {
    console.error(`Drill "${name}" ignored: known bug: ${bug} (HERALD_DRILL_KNOWN_BUGS=1 runs it)`);
  }
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
  // kafkajs keeps timers and sockets of its own between steps.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const ctx = drillContext({ seconds: 3 });
    try {
      for (const [name, drill] of Object.entries(DRILLS)) {
        const diskFull = name.startsWith("disk-full");
        await t.step({
          name,
          ignore: (diskFull && noTmpfs !== null) || (name in KNOWN_BUGS && !runKnownBugs),
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

import assert from "node:assert/strict";
import { parse, stringify } from "yaml";
import { openLake } from "../../../query/mod.ts";
import { type Answer, type HeraldProcess, http, startHerald, waitFor } from "../../_testing.ts";

/** Events the sink may hold before they are in Parquet files, in this test. */
const LIMIT = 3;

/** The answer of `/readyz`. */
function readyz(herald: HeraldProcess): Promise<Answer> {
  return http(`${herald.url}/readyz`);
}

/** The request ids in the lake's purchases table, sorted. */
async function lakeRequestIds(lake: string): Promise<string[]> {
  const db = await openLake(lake);
  try {
    const { rows } = await db.run("select request_id from purchases order by request_id");
    return rows.map((r) => String(r[0]));
  } finally {
    db.close();
  }
}

Deno.test("Parquet files behind: 503 + Retry-After past max_buffered_events, writes resume after the roll", async () => {
  const file = await Deno.makeTempFile({ suffix: ".yaml" });
  const base = parse(await Deno.readTextFile("config/gateway.yaml"));
  await Deno.writeTextFile(
    file,
    stringify({
      ...base,
      // Only the roll interval turns the log into files: rows and bytes never reach their limits.
      parquet: {
        ...base.parquet,
        max_buffered_events: LIMIT,
        roll_interval_ms: 15_000,
        roll_rows: 100_000,
        roll_bytes: 64 * 1024 * 1024,
      },
    }),
  );
  const herald = await startHerald(["--sinks", "parquet", "--config", file]);
  try {
    const acked: Answer[] = [];
    for (let i = 0; i < LIMIT; i++) acked.push(await http(`${herald.url}/purchase_a_sword`));
    assert.deepEqual(acked.map((a) => a.status), Array(LIMIT).fill(200));

    const notReady = await readyz(herald);
    assert.equal(notReady.status, 503, notReady.text);
    const parquet = JSON.parse(notReady.text).sinks.parquet;
    assert.equal(parquet.ok, false);
    assert.deepEqual(parquet.queue, { queued: LIMIT, limit: LIMIT, unit: "events" });

    const refused = await http(`${herald.url}/purchase_a_sword`);
    assert.equal(refused.status, 503, refused.text);
    assert.ok(refused.headers.get("retry-after") !== null, "the 503 carries Retry-After");
    assert.match(refused.text, /Parquet files are behind/);

    // The roll interval writes the files; then the sink takes writes again.
    await waitFor(async () => (await readyz(herald)).status === 200, {
      what: "/readyz to answer 200 again",
      timeoutMs: 60_000,
    });
    assert.deepEqual(
      await lakeRequestIds(herald.lake),
      acked.map((a) => a.headers.get("x-request-id")).sort(),
      "the acknowledged events are in Parquet files before any new write",
    );
    const after = await http(`${herald.url}/purchase_a_sword`);
    assert.equal(after.status, 200, after.text);

    assert.equal((await herald.stop()).code, 0, herald.stderr());
    const landed = await lakeRequestIds(herald.lake);
    assert.deepEqual(
      landed,
      [...acked, after].map((a) => a.headers.get("x-request-id")).sort(),
      "every acknowledged event in the lake, once",
    );
    assert.ok(
      !landed.includes(refused.headers.get("x-request-id")!),
      "the refused event was not written",
    );
  } finally {
    await herald.stop();
  }
});

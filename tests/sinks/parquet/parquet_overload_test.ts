import assert from "node:assert/strict";
import { openLake } from "../../../query/mod.ts";
import {
  type Answer,
  assertQueueFull,
  assertRefused,
  configFile,
  http,
  readyz,
  startHerald,
  waitFor,
} from "../../_testing.ts";

/** Events the sink may hold before they are in Parquet files, in this test. */
const LIMIT = 3;

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
  const file = await configFile({
    // Only the roll interval turns the log into files: rows and bytes never reach their limits.
    parquet: {
      max_buffered_events: LIMIT,
      roll_interval_ms: 15_000,
      roll_rows: 100_000,
      roll_bytes: 64 * 1024 * 1024,
    },
  });
  const herald = await startHerald(["--sinks", "parquet", "--config", file]);
  try {
    const acked: Answer[] = [];
    for (let i = 0; i < LIMIT; i++) acked.push(await http(`${herald.url}/purchase_a_sword`));
    assert.deepEqual(acked.map((a) => a.status), Array(LIMIT).fill(200));

    assertQueueFull(await readyz(herald), "parquet", LIMIT);

    const refused = await http(`${herald.url}/purchase_a_sword`);
    assertRefused(refused, /Parquet files are behind/);

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

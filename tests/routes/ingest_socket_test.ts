/**
 * Client event ids and times over a real socket: a real Herald process with
 * the stdout and Parquet sinks, retries of one id, then the event stream and
 * the lake (read back with DuckDB) hold it once, with typed client times.
 */
import assert from "node:assert/strict";
import { openLake } from "../../query/mod.ts";
import { startHerald } from "../_testing.ts";

const ID = "0192f6e0-7c1a-7b3e-8a55-0123456789ab";
const BATCH_ID = "0192f6e0-7c1a-7b3e-8a55-0123456789ac";

Deno.test("retries with the same event_id write one event to stdout and to Parquet", async () => {
  const herald = await startHerald(["--sinks", "stdout,parquet"]);
  let stopped = false;
  try {
    const clientTime = "2026-11-23T09:59:00.000Z";
    const body = JSON.stringify({ event_id: ID, guild: "owls", client_time: clientTime });
    const headers = { "content-type": "application/json" };
    const answers = [];
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${herald.url}/join_guild`, { method: "POST", headers, body });
      answers.push([res.status, await res.text(), res.headers.get("idempotent-replayed")]);
    }
    assert.deepEqual(answers, [
      [200, "Guild Joined!\n", null],
      [200, "Guild Joined!\n", "true"],
      [200, "Guild Joined!\n", "true"],
    ]);
    const batch = JSON.stringify([
      { action: "purchase_a_sword", event_id: BATCH_ID },
      { action: "purchase_a_sword", event_id: BATCH_ID },
      { action: "join_guild", event_id: ID },
    ]);
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${herald.url}/events`, { method: "POST", headers, body: batch });
      assert.equal(res.status, 200);
      await res.body?.cancel();
    }
    const bad = await fetch(`${herald.url}/join_guild?event_id=retry-1`);
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).fields[0].field, "event_id");
    assert.equal((await herald.stop()).code, 0);
    stopped = true;

    const lines = herald.stdout().split("\n").filter(Boolean).map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((e) => e.event_id).sort(), [ID, BATCH_ID].sort());
    const join = lines.find((e) => e.event_id === ID);
    assert.equal(join.client_time, clientTime);
    assert.equal(join.event_time, clientTime);
    assert.equal("client_time" in lines.find((e) => e.event_id === BATCH_ID), false);

    const lake = await openLake(herald.lake);
    try {
      const joins = await lake.run(
        "select event_id, typeof(client_time), typeof(event_time), event_time from joins",
      );
      assert.equal(joins.rows.length, 1);
      assert.equal(joins.rows[0]![0], ID);
      assert.deepEqual(joins.rows[0]!.slice(1, 3), [
        "TIMESTAMP WITH TIME ZONE",
        "TIMESTAMP WITH TIME ZONE",
      ]);
      const swords = await lake.run("select event_id, client_time from purchases");
      assert.deepEqual(swords.rows.map((r) => [r[0], r[1]]), [[BATCH_ID, null]]);
    } finally {
      lake.close();
    }
  } finally {
    if (!stopped) await herald.stop();
    await Deno.remove(herald.lake, { recursive: true }).catch(() => {});
  }
});

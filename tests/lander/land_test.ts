/**
 * The lander against a real broker: events go in over HTTP (Herald with the
 * Kafka sink), the lander runs as a real process, and DuckDB reads the lake.
 * The oracle is the topic itself: every record read back from Kafka must be in
 * the lake exactly once, in its action's table.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../config/mod.ts";
import { startKafka } from "../../tools/kafka/mod.ts";
import { runLoad } from "../../tools/load/mod.ts";
import { openLake } from "../../query/mod.ts";
import { claim, pruneClaims, readClaim } from "../../lander/mod.ts";
import {
  configFile,
  consumeAll,
  type HeraldProcess,
  kafkaUnavailable,
  produce,
  sleep,
  spawnTask,
  startHerald,
  type TaskProcess,
  waitFor,
} from "../_testing.ts";
import { SINKS } from "../../sinks/mod.ts";

Deno.test("claim() lets exactly one of racing claims of an offset win, for good", async () => {
  const dir = await Deno.makeTempDir({ prefix: "herald-claims-" });
  try {
    const ends = [3, 9, 4, 12, 7, 5, 30, 8];
    const held = await Promise.all(ends.map((last) => claim(dir, { first: 0, last })));
    const winner = held[0]!;
    assert.ok(ends.includes(winner.last));
    assert.deepEqual(held, ends.map(() => winner), "every claimant sees the same claim");
    assert.deepEqual(await claim(dir, { first: 0, last: 99 }), winner, "a later claim loses too");
    assert.deepEqual(await readClaim(dir, 0), winner);
    assert.equal(await readClaim(dir, 1), null);
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.deepEqual(names, ["0.json"], "no temporary file is left");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pruneClaims() deletes only old claims of committed ranges", async () => {
  const dir = await Deno.makeTempDir({ prefix: "herald-claims-" });
  try {
    for (const first of [0, 10, 20, 30]) await claim(dir, { first, last: first + 9 });
    const old = new Date(Date.now() - 7_200_000);
    for (const first of [0, 20, 30]) await Deno.utime(`${dir}/${first}.json`, old, old);
    await pruneClaims(dir, 30, { retentionMs: 3_600_000 });
    const left = [];
    for await (const entry of Deno.readDir(dir)) left.push(entry.name);
    // 0 and 20: committed and old; 10: committed but recent; 30: not committed.
    assert.deepEqual(left.sort(), ["10.json", "30.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const unavailable = await kafkaUnavailable("Lander integration tests");

const shipped = await loadConfig("config/gateway.yaml", { registry: SINKS });
if (!shipped.ok) throw new Error(shipped.errors.join("\n"));
const tableOf = new Map(shipped.config.actions.map((a) => [a.name, a.table]));
const eventTypes = [...new Set(shipped.config.actions.map((a) => a.event_type))];

/** The shipped config with `kafka` merged into its `kafka:` section, as a temp file. */
function configWith(kafka: Record<string, unknown>): Promise<string> {
  return configFile({ kafka });
}

/** A lander process. */
interface LanderProcess extends TaskProcess {
  /** Ranges committed so far, from the progress lines. */
  commits(): number;
}

/** Every lander a test started, so a failed step leaves none running. */
const started = new Set<LanderProcess>();

async function startLanderProcess(
  config: string,
  env: Record<string, string>,
  group: string,
  extra: string[] = [],
): Promise<LanderProcess> {
  const process = await spawnTask("land", [
    "--config",
    config,
    "--flush-interval-ms",
    "300",
    "--flush-rows",
    "700",
    "--progress-interval-ms",
    "300",
    "--session-timeout-ms",
    "6000",
    "--group",
    group,
    ...extra,
  ], { env, ready: /"msg":"landing"/ });
  const lander: LanderProcess = {
    ...process,
    commits: () =>
      Math.max(0, ...[...process.stderr().matchAll(/"commits":(\d+)/g)].map((m) => Number(m[1]))),
    async stop(signal) {
      const status = await process.stop(signal);
      started.delete(lander);
      return status;
    },
  };
  started.add(lander);
  return lander;
}

/** Lands `topic` with a lander of its own group until its first commit, then stops it cleanly. */
async function landFirstRange(config: string, env: Record<string, string>, topic: string) {
  const lander = await startLanderProcess(config, env, `g-${topic}`, ["--topics", topic]);
  try {
    await waitFor(() => lander.commits() > 0, { what: "a commit", timeoutMs: 60_000 });
  } finally {
    assert.equal((await lander.stop()).code, 0, lander.stderr());
  }
}

/** Every row of every action table in the lake: event_id -> tables it is in. */
async function lakeRows(lake: string): Promise<Map<string, string[]>> {
  const rows = new Map<string, string[]>();
  let db;
  try {
    db = await openLake(lake);
  } catch {
    return rows;
  }
  try {
    for (const table of db.tables.filter((t) => t !== "_rejected")) {
      const result = await db.run(`select event_id, action from "${table}"`);
      for (const [id, action] of result.rows) {
        assert.equal(tableOf.get(String(action)), table, `action ${action} landed in ${table}`);
        rows.set(String(id), [...(rows.get(String(id)) ?? []), table]);
      }
    }
  } finally {
    db.close();
  }
  return rows;
}

/**
 * Asserts the lake holds every record of `topics` exactly once, and nothing
 * else: once the lake has `n` rows, `stop` stops every lander, so nothing can
 * arrive after the lake is read (a late duplicate would be there by then).
 */
async function assertExactlyOnce(
  lake: string,
  brokers: string,
  topics: string[],
  accepted: number,
  stop: () => Promise<void>,
) {
  // A request refused with 503 after its ack timed out may still be in the topic: the topic,
  // not the count of 2xx, is the oracle.
  const records = await consumeAll(brokers, topics);
  assert.ok(records.length >= accepted, "the topic holds every acknowledged event");
  const n = records.length;
  const count = async () => [...(await lakeRows(lake)).values()].reduce((s, t) => s + t.length, 0);
  await waitFor(async () => (await count()) >= n, {
    what: `${n} rows in the lake`,
    timeoutMs: 120_000,
    intervalMs: 200,
  });
  await stop();
  const rows = await lakeRows(lake);
  const duplicated = [...rows].filter(([, tables]) => tables.length > 1).map(([id]) => id);
  assert.deepEqual(duplicated, [], "no event is in the lake twice");
  const missing = records.map((r) => String(r.value.event_id)).filter((id) => !rows.has(id));
  assert.deepEqual(missing, [], "every record is in the lake");
  assert.equal(rows.size, n, "the lake holds nothing else");
}

/** A valid purchase event as the Kafka sink writes it. */
const GOOD = {
  event_id: "evt-good",
  event_type: "purchase_sword",
  action: "purchase_a_sword",
  received_at: "2026-11-23T10:00:00.000Z",
  sword_type: "long",
  strength: 7,
};

async function loadInBackground(herald: HeraldProcess, requests: number) {
  const summary = await runLoad({
    url: herald.url,
    config: "config/gateway.yaml",
    concurrency: 8,
    requests,
  });
  // A busy machine may time out a few acks (503, Retry-After); nothing else is acceptable.
  const other = Object.keys(summary.status).filter((status) =>
    status !== "200" && status !== "503"
  );
  assert.deepEqual(other, [], `only 200 or 503: ${JSON.stringify(summary.status)}`);
  assert.ok((summary.status["200"] ?? 0) > 0, JSON.stringify(summary.status));
  return summary.status["200"] ?? 0;
}

Deno.test({
  name: "deno task land against a real broker",
  ignore: unavailable !== null,
  async fn(t) {
    const broker = await startKafka();
    const env = { KAFKA_BROKERS: broker.brokers };
    try {
      await t.step(
        "N events over HTTP land exactly once in their tables, though the lander is killed -9 twice",
        async () => {
          const prefix = `land-${crypto.randomUUID().slice(0, 8)}`;
          const config = await configWith({ topic: `${prefix}.{event_type}` });
          const lake = await Deno.makeTempDir({ prefix: "herald-land-" });
          const herald = await startHerald(["--sinks", "kafka", "--config", config], { env });
          const n = 12_000;
          const landerEnv = { ...env, HERALD_LAKE: lake };
          try {
            const group = `g-${prefix}`;
            const loading = loadInBackground(herald, n);
            // Kill 1: the lander kills itself right after writing a range's
            // files, before committing them; the next one must rebuild that range.
            const first = await startLanderProcess(config, {
              ...landerEnv,
              HERALD_LANDER_KILL: "after-files",
            }, group);
            const killed = await first.stop("SIGCONT"); // waits for the exit
            assert.equal(killed.signal, "SIGKILL", first.stderr());
            let lander = await startLanderProcess(config, landerEnv, group);
            await waitFor(() => lander.stderr().includes("rebuilding a claimed range"), {
              what: "the killed range to be rebuilt",
              timeoutMs: 60_000,
            });
            // Kill 2: kill -9 from outside, mid-run.
            const before = lander.commits();
            await waitFor(() => lander.commits() > before, { what: "a commit", timeoutMs: 60_000 });
            await sleep(200); // the scenario: kill it between two commits, mid-range
            assert.equal((await lander.stop("SIGKILL")).signal, "SIGKILL");
            lander = await startLanderProcess(config, landerEnv, group);
            const accepted = await loading;
            const topics = eventTypes.map((type) => `${prefix}.${type}`);
            await assertExactlyOnce(lake, broker.brokers, topics, accepted, async () => {
              const status = await lander.stop();
              assert.equal(status.code, 0, lander.stderr());
              assert.match(lander.stderr(), /"msg":"lander stopped"/);
            });
          } finally {
            await herald.stop();
          }
        },
      );

      await t.step(
        "two landers in one group split a 4-partition topic; rebalances lose and duplicate nothing",
        async () => {
          const topic = `land4-${crypto.randomUUID().slice(0, 8)}`;
          const config = await configWith({ topic, partitions: 4, key: "event_id" });
          const lake = await Deno.makeTempDir({ prefix: "herald-land-" });
          const herald = await startHerald(["--sinks", "kafka", "--config", config], { env });
          const landerEnv = { ...env, HERALD_LAKE: lake };
          const n = 8_000;
          try {
            const loading = loadInBackground(herald, n);
            const group = `g-${topic}`;
            const a = await startLanderProcess(config, landerEnv, group);
            await waitFor(() => a.commits() > 0, {
              what: "lander A's first commit",
              timeoutMs: 60_000,
            });
            const b = await startLanderProcess(config, landerEnv, group);
            await waitFor(() => b.commits() > 0, {
              what: "lander B's first commit",
              timeoutMs: 60_000,
            });
            const assigned = (p: LanderProcess) =>
              [...p.stderr().matchAll(/"assigned":(\{[^}]*\})/g)].map((m) => JSON.parse(m[1]!));
            const last = (p: LanderProcess) => assigned(p).at(-1)?.[topic] ?? [];
            assert.equal(last(a).length + last(b).length, 4, "the group split the 4 partitions");
            assert.ok(last(a).length > 0 && last(b).length > 0, "each lander owns partitions");
            const accepted = await loading;
            assert.equal((await a.stop()).code, 0, "A leaves cleanly; B takes its partitions");
            await assertExactlyOnce(lake, broker.brokers, [topic], accepted, async () => {
              assert.equal((await b.stop()).code, 0, b.stderr());
            });
          } finally {
            await herald.stop();
          }
        },
      );

      await t.step(
        "a range another lander claimed first is rebuilt as claimed, not cut anew",
        async () => {
          const topic = `claim-${crypto.randomUUID().slice(0, 8)}`;
          const lake = await Deno.makeTempDir({ prefix: "herald-land-" });
          const group = `g-${topic}`;
          const ids = Array.from({ length: 10 }, (_, i) => `evt-${i}`);
          await produce(
            broker.brokers,
            topic,
            ids.map((event_id) => JSON.stringify({ ...GOOD, event_id })),
          );
          const config = await configWith({ topic });
          const lander = await startLanderProcess(config, { ...env, HERALD_LAKE: lake }, group, [
            "--topics",
            topic,
            "--flush-interval-ms",
            "4000",
          ]);
          const read = () =>
            Math.max(0, ...[...lander.stderr().matchAll(/"records":(\d+)/g)].map((m) => +m[1]!));
          try {
            await waitFor(() => read() >= 10, {
              what: "the lander to read the 10 records",
              timeoutMs: 60_000,
            });
            // Another lander got to claim offsets 0..3 first (it then stalled, or
            // crashed before committing): this one must land exactly that range.
            const claims = `${lake}/_land/${group}/${topic}-0`;
            await Deno.mkdir(claims, { recursive: true });
            await Deno.writeTextFile(`${claims}/0.json`, JSON.stringify({ first: 0, last: 3 }));
            await waitFor(() => lander.commits() >= 2, {
              what: "both ranges to be committed",
              timeoutMs: 60_000,
            });
          } finally {
            assert.equal((await lander.stop()).code, 0, lander.stderr());
          }
          assert.match(lander.stderr(), /offset already claimed with another end/);
          const db = await openLake(lake);
          try {
            const files = await db.run(
              `select regexp_extract(filename, '[^/]+$') as file, list(event_id order by event_id)
               from read_parquet('${lake}/purchases/*/*/*.parquet', filename = true)
               group by 1 order by 1`,
            );
            assert.deepEqual(files.rows.map((r) => [r[0], [...(r[1] as string[])]]), [
              [`land-${topic}-0-0-3.parquet`, ids.slice(0, 4)],
              [`land-${topic}-0-4-9.parquet`, ids.slice(4)],
            ]);
          } finally {
            db.close();
          }
        },
      );

      await t.step(
        "poison records go to _rejected with the raw value, place and reason",
        async () => {
          const topic = `poison-${crypto.randomUUID().slice(0, 8)}`;
          const lake = await Deno.makeTempDir({ prefix: "herald-land-" });
          await produce(broker.brokers, topic, [
            "not json {",
            JSON.stringify({ ...GOOD, event_id: "e2", action: "fly_to_the_moon" }),
            JSON.stringify({ ...GOOD, event_id: "e3", strength: "very strong" }),
            JSON.stringify([1, 2]),
            JSON.stringify(GOOD),
          ]);
          const config = await configWith({ topic });
          await landFirstRange(config, { ...env, HERALD_LAKE: lake }, topic);
          const db = await openLake(lake);
          try {
            const rejected = await db.run(
              `select "offset", partition, topic, reason, raw from _rejected order by "offset"`,
            );
            assert.deepEqual(rejected.rows.map((r) => [Number(r[0]), Number(r[1]), r[2]]), [
              [0, 0, topic],
              [1, 0, topic],
              [2, 0, topic],
              [3, 0, topic],
            ]);
            const reasons = rejected.rows.map((r) => String(r[3]));
            assert.match(reasons[0]!, /^value is not JSON/);
            assert.equal(reasons[1], 'unknown action "fly_to_the_moon"');
            assert.match(reasons[2]!, /^field "strength" must be an integer/);
            assert.equal(reasons[3], "value is not a JSON object");
            assert.equal(rejected.rows[0]![4], "not json {");
            const landed = await db.run("select event_id, strength from purchases");
            assert.deepEqual(landed.rows.map((r) => [r[0], Number(r[1])]), [["evt-good", 7]]);
          } finally {
            db.close();
          }
        },
      );

      await t.step(
        "a Segment message Herald stored goes through Kafka into _rejected with its columns, once",
        async () => {
          const topic = `stored-${crypto.randomUUID().slice(0, 8)}`;
          const config = await configFile({
            kafka: { topic },
            segment: { enabled: true, unknown_events: "store" },
          });
          const lake = await Deno.makeTempDir({ prefix: "herald-land-" });
          const herald = await startHerald(["--sinks", "kafka", "--config", config], { env });
          const message = { event: "Dragon Slain", userId: "u1", messageId: "m-stored-1" };
          try {
            for (let attempt = 0; attempt < 2; attempt++) {
              const res = await fetch(`${herald.url}/v1/track`, {
                method: "POST",
                headers: { "content-type": "application/json" },
                body: JSON.stringify(message),
              });
              assert.equal(res.status, 200, await res.text());
            }
          } finally {
            await herald.stop();
          }
          await landFirstRange(config, { ...env, HERALD_LAKE: lake }, topic);
          const db = await openLake(lake);
          try {
            const { rows } = await db.run(
              `select reason, raw, message_id, topic, "offset", request_id is not null
               from _rejected`,
            );
            assert.deepEqual(rows.map((r) => [r[0], JSON.parse(String(r[1])), r[2], r[3]]), [
              ['unknown event "Dragon Slain"', message, "m-stored-1", topic],
            ]);
            assert.equal(Number(rows[0]![4]), 0);
            assert.equal(rows[0]![5], true);
          } finally {
            db.close();
          }
        },
      );

      await t.step(
        "a retry sent to two Herald instances lands once, and still once after a lander restart",
        async () => {
          const topic = `dedup-${crypto.randomUUID().slice(0, 8)}`;
          const config = await configWith({ topic });
          const lake = await Deno.makeTempDir({ prefix: "herald-land-" });
          const heralds = [
            await startHerald(["--sinks", "kafka", "--config", config], { env }),
            await startHerald(["--sinks", "kafka", "--config", config], { env }),
          ];
          const id = crypto.randomUUID();
          const retry = JSON.stringify({ event_id: id, sword_type: "long", client_time: 1764e9 });
          const send = async (herald: HeraldProcess, body: string) => {
            const res = await fetch(`${herald.url}/purchase_a_sword`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body,
            });
            assert.equal(res.status, 200, await res.text());
          };
          try {
            // Twice to the first Herald (its window answers the second), once to the other.
            await send(heralds[0]!, retry);
            await send(heralds[0]!, retry);
            await send(heralds[1]!, retry);
            for (let i = 0; i < 4; i++) await send(heralds[i % 2]!, "{}");
          } finally {
            for (const herald of heralds) await herald.stop();
          }
          const records = await consumeAll(broker.brokers, [topic]);
          assert.equal(records.filter((r) => r.value.event_id === id).length, 2, "one per Herald");
          assert.equal(records.length, 6);
          const landerEnv = { ...env, HERALD_LAKE: lake };
          const group = `g-${topic}`;
          const rowsOf = async () => {
            const db = await openLake(lake);
            try {
              const result = await db.run(
                "select event_id, typeof(event_time), event_time from purchases",
              );
              return result.rows;
            } finally {
              db.close();
            }
          };
          let lander = await startLanderProcess(config, landerEnv, group, ["--topics", topic]);
          try {
            await waitFor(async () => (await rowsOf().catch(() => [])).length >= 5, {
              what: "5 rows in the lake",
              timeoutMs: 60_000,
            });
            await waitFor(() => /"duplicates":1/.test(lander.stderr()), {
              what: "the repeat counted",
              timeoutMs: 10_000,
            });
          } finally {
            assert.equal((await lander.stop()).code, 0, lander.stderr());
          }
          // A late third copy through a restarted Herald (its window is gone), landed by a
          // restarted lander: its window comes back from the lake.
          const late = await startHerald(["--sinks", "kafka", "--config", config], { env });
          try {
            await send(late, retry);
          } finally {
            await late.stop();
          }
          lander = await startLanderProcess(config, landerEnv, group, ["--topics", topic]);
          try {
            assert.match(lander.stderr(), /dedup window filled/);
            await waitFor(() => /"duplicates":1/.test(lander.stderr()), {
              what: "the late copy dropped",
              timeoutMs: 60_000,
            });
          } finally {
            assert.equal((await lander.stop()).code, 0, lander.stderr());
          }
          const rows = await rowsOf();
          assert.equal(rows.length, 5);
          const landed = rows.filter((r) => r[0] === id);
          assert.equal(landed.length, 1, "the retried event is in the lake once");
          assert.equal(landed[0]![1], "TIMESTAMP WITH TIME ZONE");
          assert.equal(new Date(landed[0]![2] as string).getTime(), 1764e9);
        },
      );
    } finally {
      for (const lander of [...started]) await lander.stop("SIGKILL");
      await broker.stop();
      await Deno.remove(broker.dir, { recursive: true }).catch(() => {});
    }
  },
});

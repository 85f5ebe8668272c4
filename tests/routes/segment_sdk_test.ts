/**
 * Segment's official Node SDK against a real Herald (stdout and Parquet sinks,
 * over a socket): what it sends lands once, typed, and a retry of a batch whose
 * answer was lost adds nothing.
 */
import assert from "node:assert/strict";
import { Analytics } from "@segment/analytics-node";
import { parse, stringify } from "yaml";
import { openLake } from "../../query/mod.ts";
import { type HeraldProcess, startHerald } from "../_testing.ts";

const KEY = `seg-${crypto.randomUUID()}`;

/** The shipped config with the Segment routes on, a write key, and a typed action to track. */
async function sdkConfig(): Promise<string> {
  const doc = parse(await Deno.readTextFile("config/gateway.yaml"));
  doc.segment = {
    enabled: true,
    context: { "library.name": "string" },
    identify: "player_profile",
  };
  doc.auth = { write_keys: [{ name: "game", value_env: "HERALD_SEGMENT_KEY" }] };
  const sword = doc.actions.find((a: { name: string }) => a.name === "purchase_a_sword");
  sword.segment_event = "Sword Purchased";
  doc.actions.push({
    name: "level_up",
    table: "levels",
    segment_event: "Level Up",
    fields: {
      level: { type: "int" },
      score: { type: "float" },
      hardcore: { type: "bool", default: false },
      reached_at: { type: "timestamp", required: false },
    },
  });
  doc.actions.push({
    name: "player_profile",
    table: "players",
    fields: { plan: { type: "string", required: false }, age: { type: "int", required: false } },
  });
  const file = await Deno.makeTempFile({ prefix: "herald-segment-", suffix: ".yaml" });
  await Deno.writeTextFile(file, stringify(doc));
  return file;
}

async function startSegmentHerald(): Promise<HeraldProcess> {
  return await startHerald(["--config", await sdkConfig(), "--sinks", "stdout,parquet"], {
    env: { HERALD_SEGMENT_KEY: KEY },
  });
}

/** A fetch for the SDK that records each request, and whose `answer` may replace Herald's. */
function recordingFetch(answer?: (n: number, real: Response) => Response) {
  const requests: {
    url: string;
    body: string;
    headers: Record<string, string>;
    status?: number;
  }[] = [];
  const fetchFn = async (url: string, init: { body: string; headers: Record<string, string> }) => {
    const request: (typeof requests)[number] = { url, body: init.body, headers: init.headers };
    requests.push(request);
    const real = await fetch(url, init as RequestInit);
    request.status = real.status;
    return answer ? answer(requests.length, real) : real;
  };
  return { requests, fetchFn };
}

/** Every event of stdout, by message_id. */
function stdoutEvents(herald: HeraldProcess): Map<string, Record<string, unknown>[]> {
  const byId = new Map<string, Record<string, unknown>[]>();
  for (const line of herald.stdout().trim().split("\n").filter(Boolean)) {
    const event = JSON.parse(line);
    byId.set(event.message_id, [...byId.get(event.message_id) ?? [], event]);
  }
  return byId;
}

Deno.test("Segment's Node SDK: every track lands once in stdout and Parquet, typed", async () => {
  const herald = await startSegmentHerald();
  const { requests, fetchFn } = recordingFetch();
  const errors: unknown[] = [];
  try {
    const analytics = new Analytics({
      writeKey: KEY,
      host: herald.url,
      flushAt: 4,
      flushInterval: 100,
      maxRetries: 2,
      httpClient: fetchFn,
    });
    analytics.on("error", (error) => errors.push(error));
    for (let i = 0; i < 10; i++) {
      analytics.track({
        userId: `player-${i % 3}`,
        event: "Level Up",
        properties: { level: i, score: i + 0.5, hardcore: i % 2 === 0 },
        timestamp: new Date(Date.UTC(2026, 10, 23, 10, 0, i)),
      });
    }
    analytics.track({
      anonymousId: "anon-1",
      event: "Sword Purchased",
      properties: { sword_type: "short" },
    });
    analytics.track({ userId: "player-1", event: "join_guild", properties: { guild: "knights" } });
    analytics.identify({ userId: "player-1", traits: { plan: "gold", age: 31 } });
    // Not an action: rejected in the answer (207), while the rest of its batch lands.
    analytics.track({ userId: "player-1", event: "Dragon Slain" });
    await analytics.closeAndFlush({ timeout: 30_000 });
    assert.deepEqual(errors, [], "the SDK takes a 207 as delivered");
    assert.ok(requests.length >= 3, `batched by flushAt: ${requests.length} requests`);
    assert.deepEqual(
      requests.map((r) => r.status).sort(),
      [...requests.slice(1).map(() => 200), 207],
    );
    for (const request of requests) {
      assert.equal(new URL(request.url).pathname, "/v1/batch");
      assert.equal(request.headers.Authorization, `Basic ${btoa(`${KEY}:`)}`);
    }
  } finally {
    assert.equal((await herald.stop()).code, 0, herald.stderr());
  }
  const messages = requests.flatMap((r) =>
    JSON.parse(r.body).batch as { messageId: string; event?: string }[]
  );
  const sent = messages.filter((m) => m.event !== "Dragon Slain");
  const dragon = messages.find((m) => m.event === "Dragon Slain")!;
  assert.equal(sent.length, 13);
  const landed = stdoutEvents(herald);
  assert.equal(landed.size, 13);
  assert.ok(!landed.has(dragon.messageId));
  for (const message of sent) {
    assert.equal(landed.get(message.messageId)?.length, 1, `${message.messageId} once on stdout`);
  }
  const first = landed.get(sent[0]!.messageId)![0]!;
  assert.equal(first.action, "level_up");
  assert.equal(first.source, "game");
  assert.equal(first.context_library_name, "@segment/analytics-node");

  const lake = await openLake(herald.lake);
  try {
    const { rows } = await lake.run(
      `select message_id, user_id, level, score, hardcore, source, event_id from levels
       order by level`,
    );
    assert.equal(rows.length, 10);
    assert.equal(new Set(rows.map((r) => r[0])).size, 10, "each message once");
    rows.forEach((row, i) => {
      assert.deepEqual(row.slice(1, 6), [
        `player-${i % 3}`,
        BigInt(i),
        i + 0.5,
        i % 2 === 0,
        "game",
      ]);
    });
    const times = await lake.run(
      `select strftime(client_time, '%Y-%m-%dT%H:%M:%S'), event_time is not null from levels
       order by level`,
    );
    assert.deepEqual(
      times.rows,
      rows.map((_, i) => [`2026-11-23T10:00:0${i}`, true]),
      "the SDK's timestamp is the client time",
    );
    const columns = await lake.describe();
    const typeOf = (table: string, column: string) =>
      columns.rows.find((r) => r[0] === table && r[1] === column)?.[2];
    assert.equal(typeOf("levels", "level"), "BIGINT");
    assert.equal(typeOf("levels", "score"), "DOUBLE");
    assert.equal(typeOf("levels", "hardcore"), "BOOLEAN");
    assert.equal(typeOf("levels", "user_id"), "VARCHAR");
    const swords = await lake.run(
      "select anonymous_id, sword_type, context_library_name from purchases",
    );
    assert.deepEqual(swords.rows, [["anon-1", "short", "@segment/analytics-node"]]);
    const guilds = await lake.run("select user_id, guild from joins");
    assert.deepEqual(guilds.rows, [["player-1", "knights"]]);
    const players = await lake.run("select user_id, plan, age, action from players");
    assert.deepEqual(players.rows, [["player-1", "gold", 31n, "player_profile"]]);
  } finally {
    lake.close();
  }
});

Deno.test("Segment's Node SDK: a retried batch whose answer was lost adds nothing", async () => {
  const herald = await startSegmentHerald();
  // Herald takes the first batch, but the SDK is told 503: it sends the same batch again.
  const { requests, fetchFn } = recordingFetch((n, real) =>
    n === 1 ? new Response("lost", { status: 503 }) : real
  );
  try {
    const analytics = new Analytics({
      writeKey: KEY,
      host: herald.url,
      flushAt: 3,
      flushInterval: 100,
      maxRetries: 3,
      httpClient: fetchFn,
    });
    for (let i = 0; i < 3; i++) {
      analytics.track({ userId: "p", event: "Level Up", properties: { level: i, score: 1 } });
    }
    await analytics.closeAndFlush({ timeout: 30_000 });
    assert.equal(requests.length, 2, "one retry");
    assert.equal(requests[1]!.headers["X-Retry-Count"], "1");
    const ids = (i: number) =>
      JSON.parse(requests[i]!.body).batch.map((m: { messageId: string }) => m.messageId);
    assert.deepEqual(ids(1), ids(0), "the retry carries the same messageIds");
    // And a replay of the same body over a plain fetch is answered 200, adding nothing.
    const replay = await fetch(`${herald.url}/v1/batch`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Basic ${btoa(`${KEY}:`)}` },
      body: requests[0]!.body,
    });
    assert.equal(replay.status, 200);
    assert.deepEqual(await replay.json(), { success: true });
  } finally {
    assert.equal((await herald.stop()).code, 0, herald.stderr());
  }
  const landed = stdoutEvents(herald);
  assert.equal(landed.size, 3);
  for (const [id, events] of landed) assert.equal(events.length, 1, `${id} once on stdout`);
  const lake = await openLake(herald.lake);
  try {
    const { rows } = await lake.run("select count(*), count(distinct message_id) from levels");
    assert.deepEqual(rows, [[3n, 3n]]);
  } finally {
    lake.close();
  }
});

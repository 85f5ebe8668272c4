/** Tests for tools/load/: flags, mixes, generated values, percentiles, and runs against real servers. */
import assert from "node:assert/strict";
import type { ActionConfig } from "../../config/mod.ts";
import { readFields } from "../../routes/enrich.ts";
import {
  ActionGenerator,
  formatSummary,
  LatencyRecorder,
  LoadError,
  type LoadProgress,
  type LoadSummary,
  parseDuration,
  parseMix,
  runLoad,
  USAGE,
  userHosts,
} from "../../tools/load/mod.ts";
import {
  closedPort,
  configFrom,
  runTask,
  seededRandom,
  shippedConfig,
  sleep,
  startHerald,
} from "../_testing.ts";

const SUMMARY_KEYS = [
  "duration_s",
  "error_kinds",
  "errors",
  "events",
  "events_per_s",
  "events_rejected",
  "latency_ms",
  "non_2xx",
  "requests",
  "requests_per_s",
  "send_lag_ms",
  "status",
];

function eventLines(stdout: string): Record<string, unknown>[] {
  return stdout.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
}

/** Runs `deno task load ...args` as a user would. */
function runCliProcess(args: string[]) {
  return runTask("load", args);
}

/**
 * A raw HTTP server that reads requests (with Content-Length bodies) and sends
 * whatever `reply(n)` gives for the n-th request: exact bytes, then optionally
 * closes; `null` never answers.
 */
function rawServer(
  reply: (n: number) => { text: string; close?: boolean } | null,
  options: { delayMs?: number } = {},
) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const latin1 = new TextDecoder("latin1");
  const encoder = new TextEncoder();
  const conns = new Set<Deno.Conn>();
  const handlers: Promise<void>[] = [];
  const requests: string[] = [];
  let n = 0;
  const serve = async (conn: Deno.Conn) => {
    conns.add(conn);
    const chunk = new Uint8Array(65536);
    let buf = "";
    try {
      for (;;) {
        const read = await conn.read(chunk);
        if (read === null) return;
        buf += latin1.decode(chunk.subarray(0, read));
        for (;;) {
          const headEnd = buf.indexOf("\r\n\r\n");
          if (headEnd < 0) break;
          const length = Number(/content-length: *(\d+)/i.exec(buf.slice(0, headEnd))?.[1] ?? 0);
          if (buf.length < headEnd + 4 + length) break;
          requests.push(buf.slice(0, headEnd + 4 + length));
          buf = buf.slice(headEnd + 4 + length);
          const answer = reply(n++);
          if (answer === null) continue;
          if (options.delayMs) await sleep(options.delayMs); // the scenario: a slow server
          const bytes = encoder.encode(answer.text);
          for (let done = 0; done < bytes.length;) done += await conn.write(bytes.subarray(done));
          if (answer.close) return;
        }
      }
    } catch {
      // The client dropped the connection.
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch { /* already closed */ }
    }
  };
  const accepting = (async () => {
    try {
      for await (const conn of listener) handlers.push(serve(conn));
    } catch { /* listener closed */ }
  })();
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    requests,
    async close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
      await accepting;
      await Promise.all(handlers);
    },
  };
}

// ---------------------------------------------------------------------------
// Pure parts

Deno.test("parseDuration takes ms, s and m, and bare seconds", () => {
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("30s"), 30_000);
  assert.equal(parseDuration("2m"), 120_000);
  assert.equal(parseDuration("1.5s"), 1500);
  assert.equal(parseDuration("30"), 30_000);
  assert.equal(parseDuration(" 10s "), 10_000);
  for (const bad of ["", "s", "10h", "-1s", "1e3s", "ten", "10 s", "5sec"]) {
    assert.throws(
      () => parseDuration(bad),
      (e) => e instanceof LoadError && e.message.startsWith(`Invalid duration "${bad}"`),
      bad,
    );
  }
});

Deno.test("parseMix weighs actions, defaults to all at 1 and rejects unknown names", async () => {
  const { actions } = await shippedConfig();
  const all = parseMix(undefined, actions);
  assert.deepEqual(all.map((m) => [m.action.name, m.weight]), actions.map((a) => [a.name, 1]));
  assert.deepEqual(parseMix("  ", actions).length, actions.length);

  const named = (mix: Parameters<typeof parseMix>[0]) =>
    parseMix(mix, actions).map((m) => [m.action.name, m.weight]);
  assert.deepEqual(named("purchase_a_sword=5,join_guild=2"), [
    ["purchase_a_sword", 5],
    ["join_guild", 2],
  ]);
  assert.deepEqual(named(" declare_peace , purchase_a_knife=0.5 "), [
    ["declare_peace", 1],
    ["purchase_a_knife", 0.5],
  ]);
  assert.deepEqual(named("declare_peace=0,join_guild=3"), [["join_guild", 3]]);
  assert.deepEqual(named({ purchase_an_axe: 2, declare_a_war: 1 }), [
    ["purchase_an_axe", 2],
    ["declare_a_war", 1],
  ]);
  assert.equal(parseMix("default", actions)[0]!.action.path, "/");

  const fails = (mix: Parameters<typeof parseMix>[0], message: RegExp) =>
    assert.throws(
      () => parseMix(mix, actions),
      (e) => e instanceof LoadError && message.test(e.message),
    );
  fails(
    "purchase_a_sword=5,nope=2",
    /^Unknown action "nope" in the mix \(expected one of "default", "purchase_a_sword",/,
  );
  fails("join_guild,join_guild=2", /^Action "join_guild" is given twice in the mix$/);
  fails("join_guild=x", /^Invalid weight "x" for action "join_guild"/);
  fails("join_guild=-1", /^Invalid weight "-1"/);
  fails("join_guild=", /^Invalid weight ""/);
  fails({ join_guild: Number.NaN }, /^Invalid weight "NaN"/);
  fails("join_guild=0", /^The mix gives no action a weight above 0$/);
});

Deno.test("userHosts gives each fake user its own host, in the seeds' style", () => {
  const hosts = userHosts(12);
  assert.deepEqual(hosts.slice(0, 6), [
    "user1.comcast.com",
    "knight1.yahoo.com",
    "mage1.gmail.com",
    "archer1.verizon.net",
    "rogue1.comcast.com",
    "user2.yahoo.com",
  ]);
  assert.equal(new Set(userHosts(1000)).size, 1000);
  for (const host of hosts) assert.match(host, /^[a-z]+\d+\.[a-z]+\.(com|net)$/);
});

const EVERY_TYPE = `
actions:
  - name: everything
    fields:
      level: { type: int, min: 1, max: 99, required: true }
      score: { type: int, min: -50 }
      debt: { type: int, max: -10 }
      high: { type: int, min: 500 }
      ratio: { type: float, min: 0.5, max: 0.75 }
      tiny: { type: float, min: 0, max: 0.000001 }
      huge: { type: float, min: 1e21, max: 1e22 }
      plain: { type: float }
      flag: { type: bool }
      chest: { type: enum, values: [wooden, "iron & steel", "gölden+"], default: wooden }
      at: { type: timestamp, required: true }
      when: { type: timestamp }
      tag: { type: string, max_length: 3 }
      note: { type: string }
      gold: { type: int, generate: { uniform: { min: 0, max: 500 } } }
      kind: { type: string, value: fixed }
`;

/** Every generated input of `action`, as query text and as a batch item. */
function checkGenerated(action: ActionConfig, runs: number, random: () => number) {
  const generator = new ActionGenerator(action);
  const present = new Map<string, number>();
  for (let i = 0; i < runs; i++) {
    const query = generator.query(random);
    assert.ok(!/[ #?]/.test(query), query);
    const params = new URLSearchParams(query);
    const input = Object.fromEntries(params);
    assert.equal(Object.keys(input).length, [...params.keys()].length, "no field twice");
    const fromQuery = readFields(action, input, true, random);
    assert.ok("values" in fromQuery, `${action.name} ?${query}: ${JSON.stringify(fromQuery)}`);

    const text = generator.item(random);
    const { action: name, ...fields } = JSON.parse(text);
    assert.equal(name, action.name);
    const fromJson = readFields(action, fields, false, random);
    assert.ok("values" in fromJson, `${action.name} ${text}: ${JSON.stringify(fromJson)}`);
    for (const key of Object.keys(input)) present.set(key, (present.get(key) ?? 0) + 1);
  }
  return present;
}

Deno.test("generated values pass Herald's own validation for every shipped action", async () => {
  const config = await shippedConfig();
  for (const action of config.actions) checkGenerated(action, 500, seededRandom(7));
});

Deno.test("generated values cover every field type and leave out optional fields half the time", () => {
  const action = configFrom(EVERY_TYPE).actions[0]!;
  const runs = 4000;
  const present = checkGenerated(action, runs, seededRandom(42));
  assert.equal(present.get("level"), runs, "required fields are always sent");
  assert.equal(present.get("at"), runs);
  assert.equal(present.get("gold"), undefined, "generated fields are never sent");
  assert.equal(present.get("kind"), undefined, "constant fields are never sent");
  for (const name of ["score", "debt", "high", "ratio", "tiny", "huge", "flag", "chest", "tag"]) {
    const share = (present.get(name) ?? 0) / runs;
    assert.ok(share > 0.45 && share < 0.55, `${name} sent ${share} of the time`);
  }

  const random = seededRandom(3);
  const generator = new ActionGenerator(action);
  const seen = new Map<string, Set<string>>();
  for (let i = 0; i < 2000; i++) {
    for (const [key, value] of new URLSearchParams(generator.query(random))) {
      seen.set(key, (seen.get(key) ?? new Set()).add(value));
    }
  }
  assert.deepEqual([...seen.get("chest")!].sort(), ["gölden+", "iron & steel", "wooden"]);
  assert.deepEqual([...seen.get("flag")!].sort(), ["false", "true"]);
  const ints = (name: string) => [...seen.get(name)!].map(Number);
  assert.equal(Math.min(...ints("level")), 1);
  assert.equal(Math.max(...ints("level")), 99);
  assert.ok(ints("high").every((n) => n >= 500 && n <= 600));
  assert.ok(ints("debt").every((n) => n >= -110 && n <= -10));
  assert.ok(ints("plain").every((n) => n >= 0 && n <= 100));
  assert.ok([...seen.get("tag")!].every((s) => s.length >= 1 && s.length <= 3));
  assert.ok([...seen.get("note")!].every((s) => /^[a-z0-9]{1,32}$/.test(s)));
  for (const at of seen.get("at")!) assert.ok(Math.abs(Date.parse(at) - Date.now()) < 60_000);
});

/** The nearest-rank `p`th percentile of values sorted ascending. */
function nearestRank(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1]!;
}

Deno.test("LatencyRecorder percentiles are within 0.1% of the nearest rank and its max is exact", () => {
  const random = seededRandom(11);
  const values = Array.from({ length: 20_000 }, () => Math.round(random() ** 3 * 5e6) / 1000);
  const sorted = [...values].sort((a, b) => a - b);
  const latency = new LatencyRecorder();
  for (const v of values) latency.record(v);
  assert.equal(latency.count, 20_000);
  assert.equal(latency.max, sorted.at(-1));
  for (const p of [0, 1, 50, 90, 99, 99.9, 100]) {
    const want = nearestRank(sorted, p);
    const got = latency.percentile(p);
    assert.ok(Math.abs(got - want) <= want * 0.001 + 0.001, `p${p}: ${got} vs ${want}`);
  }
  const few = new LatencyRecorder();
  for (let ms = 1; ms <= 100; ms++) few.record(ms);
  assert.equal(few.percentile(50), 50.015, "the top of 50's 0.1% bucket");
  assert.equal(few.percentile(100), 100, "never above the largest value");
  const empty = new LatencyRecorder();
  assert.ok(Number.isNaN(empty.percentile(50)) && Number.isNaN(empty.max));
  const big = new LatencyRecorder();
  big.record(3_600_000);
  assert.equal(big.percentile(50), 3_600_000);
});

Deno.test("formatSummary shows every status and says when answers were not 2xx", () => {
  const summary: LoadSummary = {
    requests: 10_002,
    events: 9990,
    events_rejected: 0,
    duration_s: 10,
    requests_per_s: 1000.2,
    events_per_s: 999,
    latency_ms: { p50: 1.234, p90: 2.5, p99: 7, max: 12.3456 },
    send_lag_ms: { p50: 0.1, p99: 1.5, max: 3 },
    status: { "200": 9990, "503": 10 },
    non_2xx: 10,
    errors: 2,
    error_kinds: { ConnectionReset: 2 },
  };
  const text = formatSummary(summary);
  assert.match(text, /^requests +10002 in 10\.00 s: 1000\.2 requests\/s$/m);
  assert.match(text, /^events +9990: 999\.0 events\/s$/m);
  assert.match(text, /^latency ms +p50 1\.23, p90 2\.50, p99 7\.00, max 12\.35$/m);
  assert.match(text, /^send lag ms p50 0\.10, p99 1\.50, max 3\.00 \(the tool's own delay/m);
  assert.match(text, /^status +200: 9990, 503: 10, error: 2$/m);
  assert.match(text, /^errors +ConnectionReset: 2$/m);
  assert.match(text, /10 answers were not 2xx and 2 requests got no answer/);
  const clean = formatSummary({
    ...summary,
    status: { "200": 10 },
    non_2xx: 0,
    errors: 0,
    error_kinds: {},
  });
  assert.match(clean, /^status +200: 10, error: 0$/m);
  assert.doesNotMatch(clean, /warning|errors /);
});

Deno.test("runLoad rejects bad options and an unreachable target before sending", async () => {
  const config = await shippedConfig();
  const url = `http://127.0.0.1:${closedPort()}`;
  const rejects = (options: Partial<Parameters<typeof runLoad>[0]>, message: RegExp) =>
    assert.rejects(
      runLoad({ url, config, requests: 1, ...options }),
      (e) => e instanceof LoadError && message.test(e.message),
    );
  await rejects({ concurrency: 0 }, /^Invalid concurrency "0"/);
  await rejects({ users: 1.5 }, /^Invalid users "1.5"/);
  await rejects({ rate: -1 }, /^Invalid rate "-1"/);
  await rejects({ batch: 1001 }, /at most 1000 events per batch/);
  await rejects({ mix: "nope" }, /^Unknown action "nope"/);
  await rejects({ url: "https://example.com" }, /only http:\/\/ targets/);
  await rejects({ config: "no/such.yaml" }, /^Cannot read config "no\/such.yaml"/);
  await rejects({}, /^Cannot reach "http:\/\/127\.0\.0\.1:\d+": /);
});

// ---------------------------------------------------------------------------
// The HTTP client against exact bytes

Deno.test("the client reads chunked, close-delimited and interim answers and reconnects", async () => {
  const json = '{"accepted":2,"rejected":1,"results":[]}';
  const server = rawServer((n) => {
    switch (n % 4) {
      case 0:
        return {
          text:
            `HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;x=1\r\n${
              json.slice(0, 5)
            }\r\n` +
            `${(json.length - 5).toString(16)}\r\n${json.slice(5)}\r\n0\r\nx-trailer: 1\r\n\r\n`,
        };
      case 1:
        return {
          text: `HTTP/1.1 207 Multi-Status\r\nCONTENT-LENGTH: ${json.length}\r\n` +
            `Connection: close\r\n\r\n${json}`,
          close: true,
        };
      case 2:
        return {
          text: `HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n${json}`,
          close: true,
        };
      default:
        return {
          text:
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\n{}",
        };
    }
  });
  try {
    const summary = await runLoad({
      url: server.url,
      config: await shippedConfig(),
      requests: 40,
      concurrency: 1,
      batch: 3,
      users: 2,
    });
    assert.deepEqual(summary.status, { "200": 20, "207": 10, "503": 10 });
    assert.equal(summary.errors, 0, JSON.stringify(summary.error_kinds));
    assert.equal(summary.events, 60);
    assert.equal(summary.events_rejected, 30);
    assert.equal(summary.non_2xx, 10);
    assert.equal(server.requests.length, 40);
    for (const request of server.requests) {
      assert.match(
        request,
        /^POST \/events HTTP\/1\.1\r\nHost: (user1\.comcast\.com|knight1\.yahoo\.com)\r\n/,
      );
      const [head, body] = request.split("\r\n\r\n") as [string, string];
      assert.match(head, /\r\nContent-Type: application\/x-ndjson\r\n/);
      assert.equal(
        Number(/Content-Length: (\d+)/.exec(head)![1]),
        new TextEncoder().encode(body).length,
      );
      assert.equal(body.trimEnd().split("\n").length, 3);
    }
  } finally {
    await server.close();
  }
});

Deno.test("the client retries once on a kept-alive connection the server closed", async () => {
  const server = rawServer(() => ({
    text: "HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok\n",
    close: true,
  }));
  try {
    const summary = await runLoad({
      url: server.url,
      config: await shippedConfig(),
      requests: 30,
      concurrency: 2,
    });
    assert.deepEqual(summary.status, { "200": 30 });
    assert.equal(summary.errors, 0, JSON.stringify(summary.error_kinds));
  } finally {
    await server.close();
  }
});

Deno.test("a request without an answer times out as an error, not a hang", async () => {
  const server = rawServer(() => null);
  try {
    const summary = await runLoad({
      url: server.url,
      config: await shippedConfig(),
      requests: 2,
      concurrency: 1,
      timeoutMs: 300,
    });
    assert.equal(summary.requests, 2);
    assert.deepEqual(summary.status, {});
    assert.equal(summary.errors, 2);
    assert.deepEqual(summary.error_kinds, { Timeout: 2 });
    assert.ok(Number.isNaN(summary.latency_ms.p50));
  } finally {
    await server.close();
  }
});

Deno.test("open loop: time waiting for a busy connection counts in latency", async () => {
  const server = rawServer(() => ({ text: "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n" }), {
    delayMs: 100,
  });
  try {
    const config = await shippedConfig();
    const open = await runLoad({
      url: server.url,
      config,
      rate: 20,
      durationMs: 1000,
      concurrency: 1,
    });
    assert.equal(open.requests, 20);
    // 20 requests of 100 ms each on one connection take 2 s, but were due within 1 s.
    assert.ok(open.latency_ms.max > 900, JSON.stringify(open.latency_ms));
    assert.ok(open.latency_ms.p50 > 300, JSON.stringify(open.latency_ms));
    // That wait is the server's doing, not the tool's: it is not send lag.
    assert.ok(open.send_lag_ms !== null && open.send_lag_ms.max < 50, JSON.stringify(open));
    const closed = await runLoad({ url: server.url, config, requests: 5, concurrency: 1 });
    assert.equal(closed.send_lag_ms, null);
    // A closed loop sends when the connection is free, so no queueing is counted.
    assert.ok(
      closed.latency_ms.max < open.latency_ms.p50,
      JSON.stringify({ closed: closed.latency_ms, open: open.latency_ms }),
    );
  } finally {
    await server.close();
  }
});

// ---------------------------------------------------------------------------
// Against a real Herald

Deno.test("runLoad: 500 requests from 5 users give 500 events with the users' hosts", async () => {
  const herald = await startHerald(["--sinks", "stdout"]);
  try {
    const summary = await runLoad({
      url: herald.url,
      config: await shippedConfig(),
      requests: 500,
      concurrency: 20,
      users: 5,
    });
    assert.equal(summary.requests, 500);
    assert.deepEqual(summary.status, { "200": 500 });
    assert.equal(summary.events, 500);
    assert.equal(summary.errors, 0);
    assert.equal(summary.non_2xx, 0);
    assert.ok(summary.requests_per_s > 0 && summary.duration_s > 0);
    const { p50, p90, p99, max } = summary.latency_ms;
    assert.ok(0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= max, JSON.stringify(summary));
    assert.equal((await herald.stop()).code, 0);
    const events = eventLines(herald.stdout());
    assert.equal(events.length, 500);
    assert.deepEqual([...new Set(events.map((e) => e.host))].sort(), userHosts(5).sort());
    assert.ok(events.every((e) => e.user_agent === "herald-load"));
    assert.ok(new Set(events.map((e) => e.action)).size >= 8, "the default mix has every action");
  } finally {
    await herald.stop();
  }
});

Deno.test("runLoad --batch 50: events are 50 x requests, in the mix's proportions", async () => {
  const herald = await startHerald(["--sinks", "stdout"]);
  try {
    const config = await shippedConfig();
    const summary = await runLoad({
      url: herald.url,
      config,
      requests: 20,
      concurrency: 4,
      batch: 50,
      mix: "purchase_a_sword=3,declare_a_war=1",
    });
    assert.deepEqual(summary.status, { "200": 20 });
    assert.equal(summary.events, 50 * summary.requests);
    assert.equal(summary.events_rejected, 0);
    const perSecond = 50 * summary.requests_per_s;
    assert.ok(Math.abs(summary.events_per_s - perSecond) < 5, `${summary.events_per_s} events/s`);
    const asArray = await runLoad({
      url: herald.url,
      config,
      requests: 4,
      concurrency: 2,
      batch: 25,
      batchFormat: "json",
    });
    assert.deepEqual(asArray.status, { "200": 4 });
    assert.equal(asArray.events, 100);
    await herald.stop();
    const events = eventLines(herald.stdout());
    assert.equal(events.length, 1100);
    const swords = events.slice(0, 1000).filter((e) => e.action === "purchase_a_sword").length;
    assert.ok(swords > 680 && swords < 820, `${swords} of 1000 are swords, expected about 750`);
  } finally {
    await herald.stop();
  }
});

Deno.test("runLoad --rate 200 --duration 2s sends about 400 requests", async () => {
  const herald = await startHerald(["--sinks", "stdout"]);
  try {
    const progress: LoadProgress[] = [];
    const summary = await runLoad({
      url: herald.url,
      config: await shippedConfig(),
      rate: 200,
      durationMs: 2000,
      concurrency: 10,
      onProgress: (p) => progress.push(p),
      progressIntervalMs: 500,
    });
    assert.ok(summary.requests >= 360 && summary.requests <= 440, `${summary.requests} requests`);
    assert.deepEqual(summary.status, { "200": summary.requests });
    // At least the duration asked for; how much longer depends on the machine (the bench's concern).
    assert.ok(summary.duration_s >= 1.9, `${summary.duration_s} s`);
    assert.ok(progress.length >= 3, `${progress.length} progress reports`);
    assert.equal(progress.at(-1)!.done, 1);
    assert.equal(progress.at(-1)!.requests, summary.requests);
  } finally {
    await herald.stop();
  }
});

Deno.test("deno task load --json prints one JSON summary; bad flags exit 1, usage errors 2", async () => {
  const herald = await startHerald(["--sinks", "stdout"]);
  try {
    const ok = await runCliProcess([
      "--url",
      herald.url,
      "--requests",
      "100",
      "--concurrency",
      "5",
      "--users",
      "3",
      "--json",
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    const lines = ok.stdout.trim().split("\n");
    assert.equal(lines.length, 1, ok.stdout);
    const summary = JSON.parse(lines[0]!);
    assert.deepEqual(Object.keys(summary).sort(), SUMMARY_KEYS);
    assert.deepEqual(Object.keys(summary.latency_ms), ["p50", "p90", "p99", "max"]);
    assert.deepEqual(summary.status, { "200": 100 });
    assert.equal(summary.requests, 100);
    assert.equal(summary.events, 100);
    assert.equal(summary.errors, 0);

    const text = await runCliProcess([
      "--url",
      herald.url,
      "--requests",
      "20",
      "--mix",
      "join_guild",
    ]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^status +200: 20, error: 0$/m);
  } finally {
    await herald.stop();
  }
  const unknown = await runCliProcess(["--mix", "nope=1"]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^Unknown action "nope" in the mix/);
  const badDuration = await runCliProcess(["--duration", "soon"]);
  assert.equal(badDuration.code, 1);
  assert.match(badDuration.stderr, /^Invalid duration "soon"/);
  const down = await runCliProcess(["--url", `http://127.0.0.1:${closedPort()}`]);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /^Cannot reach "http:\/\/127\.0\.0\.1:\d+": /);
  const usage = await runCliProcess(["--bogus"]);
  assert.equal(usage.code, 2);
  assert.ok(usage.stderr.includes(USAGE));
  const help = await runCliProcess(["--help"]);
  assert.equal(help.code, 0);
  assert.equal(help.stdout, `${USAGE}\n`);
});

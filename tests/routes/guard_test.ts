/**
 * Write keys, HMAC signing, rate limits and CORS, over a real socket against
 * a Herald process with the stdout and Parquet sinks: every refused request
 * is checked for its status and body, and for leaving nothing in stdout, the
 * logs or the lake.
 */
import assert from "node:assert/strict";
import { parse, stringify } from "yaml";
import { parseConfig } from "../../config/mod.ts";
import { TokenBuckets } from "../../routes/guard.ts";
import { openLake } from "../../query/mod.ts";
import { hmacHex, startHerald } from "../_testing.ts";
import { SINKS } from "../../sinks/mod.ts";

const base = parse(await Deno.readTextFile("config/gateway.yaml"));

Deno.test("config: write key values never sit in the YAML", () => {
  const text = (key: string) =>
    stringify({ ...base, auth: { write_keys: [parse(`{name: mobile, ${key}}`)] } });
  const literal = parseConfig(text("value: hunter2"), { registry: SINKS, file: "g.yaml" });
  assert.equal(literal.ok, false);
  assert.match(
    (literal as { errors: string[] }).errors[0]!,
    /auth\.write_keys\[0\]\.value: a key's value never goes in the config: use value_env or value_file/,
  );
  const both = parseConfig(text("value_env: A, value_file: /x"), {
    registry: SINKS,
    file: "g.yaml",
  });
  assert.match(
    (both as { errors: string[] }).errors[0]!,
    /exactly one of value_env and value_file/,
  );
  assert.equal(
    parseConfig(text("value_env: HERALD_KEY_MOBILE"), { registry: SINKS, file: "g.yaml" }).ok,
    true,
  );
});

Deno.test("token buckets refill at their rate and forget the least recently used key", () => {
  const buckets = new TokenBuckets({ ratePerS: 2, burst: 2, max: 3 });
  assert.equal(buckets.take("a", 0), 0);
  assert.equal(buckets.take("a", 0), 0);
  assert.equal(buckets.take("a", 0), 0.5, "empty: one token in half a second");
  assert.equal(buckets.take("a", 500), 0, "refilled");
  for (const k of ["b", "c", "d", "e"]) buckets.take(k, 500);
  assert.equal(buckets.size, 3, "bounded");
});

Deno.test("write keys, signatures, rate limits and CORS over a real socket", async () => {
  const mobileKey = `mobile-${crypto.randomUUID()}`;
  const serverKey = `server-${crypto.randomUUID()}`;
  const canary = `CANARY-${crypto.randomUUID()}`;
  const keyFile = await Deno.makeTempFile();
  await Deno.writeTextFile(keyFile, `${serverKey}\n`);
  const config = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(
    config,
    stringify({
      ...base,
      server: { ...base.server, trust_proxy: true },
      auth: {
        write_keys: [
          { name: "mobile", value_env: "HERALD_KEY_MOBILE" },
          { name: "backend", value_file: keyFile, hmac: true },
        ],
      },
      rate_limit: {
        per_ip: { rate_per_s: 0.01, burst: 4 },
        per_key: { rate_per_s: 0.01, burst: 6 },
      },
      cors: { origins: ["https://game.example"] },
    }),
  );
  const herald = await startHerald(["--config", config, "--sinks", "stdout,parquet"], {
    env: { HERALD_KEY_MOBILE: mobileKey },
  });
  const send = async (path: string, init: RequestInit & { ip?: string } = {}) => {
    const headers = new Headers(init.headers);
    headers.set("x-forwarded-for", init.ip ?? "10.0.0.1");
    const res = await fetch(`${herald.url}${path}`, { ...init, headers });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
  };
  const accepted: string[] = [];
  try {
    // 1. Missing and wrong keys: 401 with a JSON body, nothing written.
    const none = await send("/purchase_a_sword", { ip: "10.0.0.2" });
    assert.equal(none.status, 401);
    assert.equal(none.json().error, "unauthorized");
    assert.match(none.json().message, /Missing write key/);
    assert.equal(none.headers.get("www-authenticate"), 'Basic realm="herald"');
    const wrong = await send("/purchase_a_sword", {
      ip: "10.0.0.2",
      headers: { "x-write-key": canary },
    });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json().message, "Invalid write key");
    assert.ok(!wrong.text.includes(canary), "the error body does not echo the key");

    // 2. X-Write-Key and HTTP Basic work; the key's name is the event's source.
    const byHeader = await send("/purchase_a_sword", {
      ip: "10.0.0.3",
      headers: {
        "x-write-key": mobileKey,
        cookie: `session=${canary}`,
        "proxy-authorization": `Basic ${canary}`,
        "x-api-key": canary,
      },
    });
    assert.equal(byHeader.status, 200, byHeader.text);
    accepted.push(byHeader.headers.get("x-request-id")!);
    const byBasic = await send("/join_guild", {
      ip: "10.0.0.3",
      method: "POST",
      headers: {
        authorization: `Basic ${btoa(`anyone:${mobileKey}`)}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ guild: "knights" }),
    });
    assert.equal(byBasic.status, 200, byBasic.text);
    accepted.push(byBasic.headers.get("x-request-id")!);

    // 3. A key with hmac: true must sign timestamp + "." + raw body.
    const body = JSON.stringify([{ action: "declare_peace" }]);
    const now = Math.floor(Date.now() / 1000);
    const signed = async (stamp: number, payload = body, key = serverKey) => ({
      "x-write-key": serverKey,
      "content-type": "application/json",
      "x-herald-timestamp": String(stamp),
      "x-herald-signature": `sha256=${await hmacHex(key, `${stamp}.${payload}`)}`,
    });
    const unsigned = await send("/events", {
      ip: "10.0.0.4",
      method: "POST",
      headers: { "x-write-key": serverKey, "content-type": "application/json" },
      body,
    });
    assert.equal(unsigned.status, 401);
    assert.match(unsigned.json().message, /must sign/);
    const replay = await send("/events", {
      ip: "10.0.0.4",
      method: "POST",
      headers: await signed(now - 301),
      body,
    });
    assert.equal(replay.status, 401);
    assert.match(replay.json().message, /more than 300 s away: replay refused/);
    const forged = await send("/events", {
      ip: "10.0.0.4",
      method: "POST",
      headers: await signed(now, body, "not-the-key"),
      body,
    });
    assert.equal(forged.status, 401);
    assert.equal(forged.json().message, "Invalid signature");
    const tampered = await send("/events", {
      ip: "10.0.0.5",
      method: "POST",
      headers: await signed(now),
      body: body.replace("peace", "war"),
    });
    assert.equal(tampered.status, 401, "the signature covers the body");
    const good = await send("/events", {
      ip: "10.0.0.5",
      method: "POST",
      headers: await signed(now),
      body,
    });
    assert.equal(good.status, 200, good.text);
    accepted.push(good.headers.get("x-request-id")!);

    // 4. Per-IP limit: burst 4, then 429 with Retry-After; another IP is unaffected.
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await send("/purchase_a_sword", {
        ip: "10.9.9.9",
        headers: { "x-write-key": mobileKey },
      });
      statuses.push(r.status);
      if (r.status === 200) accepted.push(r.headers.get("x-request-id")!);
      if (r.status === 429) {
        assert.equal(r.json().error, "rate_limited");
        assert.ok(Number(r.headers.get("retry-after")) >= 1);
      }
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
    // 5. Per-key limit: "mobile" has spent its burst of 6; "backend" has not.
    const keyLimited = await send("/purchase_a_sword", {
      ip: "10.0.0.6",
      headers: { "x-write-key": mobileKey },
    });
    assert.equal(keyLimited.status, 429);
    assert.match(keyLimited.json().message, /for key "mobile"/);
    const other = await send("/events", {
      ip: "10.0.0.7",
      method: "POST",
      headers: await signed(now),
      body,
    });
    assert.equal(other.status, 200, "another key is unaffected");
    accepted.push(other.headers.get("x-request-id")!);

    // 6. CORS: preflight for an allowed origin, none for another; Vary: Origin.
    const preflight = await fetch(`${herald.url}/purchase_a_sword`, {
      method: "OPTIONS",
      headers: {
        origin: "https://game.example",
        "access-control-request-method": "GET",
        "access-control-request-headers": "x-write-key",
      },
    });
    await preflight.body?.cancel();
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get("access-control-allow-origin"), "https://game.example");
    assert.match(preflight.headers.get("access-control-allow-headers")!, /X-Write-Key/i);
    assert.match(preflight.headers.get("access-control-allow-headers")!, /Content-Encoding/i);
    assert.match(preflight.headers.get("vary") ?? "", /Origin/);
    assert.equal(preflight.headers.get("access-control-allow-credentials"), null);
    const foreign = await fetch(`${herald.url}/purchase_a_sword`, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "GET" },
    });
    await foreign.body?.cancel();
    assert.equal(foreign.headers.get("access-control-allow-origin"), null);
    const simple = await send("/readyz", { headers: { origin: "https://game.example" } });
    assert.equal(simple.headers.get("access-control-allow-origin"), "https://game.example");
    assert.match(simple.headers.get("vary") ?? "", /Origin/);
  } finally {
    assert.equal((await herald.stop()).code, 0, herald.stderr());
  }

  // Only the accepted requests became events, each with its key's name.
  const events = herald.stdout().trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(events.map((e) => e.request_id).sort(), [...accepted].sort());
  assert.deepEqual(
    [...new Set(events.map((e) => e.source))].sort(),
    ["backend", "mobile"],
  );
  const lake = await openLake(herald.lake);
  let lakeText = "";
  try {
    for (const table of lake.tables) {
      const result = await lake.run(`select * from "${table}"`);
      lakeText += JSON.stringify(result.rows, (_k, v) => typeof v === "bigint" ? String(v) : v);
    }
    const sources = await lake.run("select source, count(*) from purchases group by 1");
    assert.deepEqual(sources.rows.map((r) => r[0]), ["mobile"]);
  } finally {
    lake.close();
  }
  for (const secret of [canary, mobileKey, serverKey]) {
    for (
      const [where, text] of [["stdout", herald.stdout()], ["stderr", herald.stderr()], [
        "lake",
        lakeText,
      ]]
    ) {
      assert.ok(!text!.includes(secret), `${secret.slice(0, 8)}... leaked into ${where}`);
    }
  }
});

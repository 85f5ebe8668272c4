import assert from "node:assert/strict";
import pino from "pino";
import { parse, stringify } from "yaml";
import { type GatewayConfig, parseConfig } from "../../config/mod.ts";
import { LiveHub, LiveKey, resolveLiveKey, tapFanOut } from "../../live/mod.ts";
import { viewerStream } from "../../live/stream.ts";
import { Metrics } from "../../ops/metrics.ts";
import { buildApp } from "../../routes/mod.ts";
import { FanOut } from "../../sinks/fan_out.ts";
import { MemorySink } from "../../sinks/memory.ts";
import { SINKS } from "../../sinks/mod.ts";
import { shippedConfig, waitFor } from "../_testing.ts";

async function configWith(sections: Record<string, unknown>): Promise<GatewayConfig> {
  const doc = parse(await Deno.readTextFile("config/gateway.yaml"));
  const result = parseConfig(stringify({ ...doc, ...sections }), { registry: SINKS });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return result.config;
}

function liveApp(config: GatewayConfig, key: string | LiveKey | null = null) {
  const hub = new LiveHub({ ...config.live, enabled: true });
  const sink = new MemorySink();
  const fanOut = new FanOut([sink], { timeoutMs: 1000 });
  const app = buildApp(config, fanOut, {
    logger: pino({ level: "silent" }),
    metrics: new Metrics(),
    live: { hub, key: typeof key === "string" ? new LiveKey(key) : key },
  });
  tapFanOut(fanOut, hub);
  return { app, hub, sink };
}

/** Reads server-sent events from `body` until `done` holds for what was read. */
async function readUntil(body: ReadableStream<Uint8Array>, done: (text: string) => boolean) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    await waitFor(async () => {
      const { value, done: ended } = await reader.read();
      if (value) text += decoder.decode(value, { stream: true });
      if (ended) throw new Error(`stream ended after: ${text}`);
      return done(text);
    }, { what: "the stream", intervalMs: 0, timeoutMs: 5000 });
  } finally {
    await reader.cancel();
  }
  return text;
}

/** The `data:` of every message (not status) in SSE text. */
function messages(text: string): Record<string, unknown>[] {
  return text.split("\n\n").filter((m) => m.startsWith("id: "))
    .map((m) => JSON.parse(m.split("\ndata: ")[1]!));
}

Deno.test("/live and /live/stream are 404 while the live page is off", async () => {
  const config = await shippedConfig();
  assert.equal(config.live.enabled, false, "off by default");
  const app = buildApp(config, new FanOut([new MemorySink()], { timeoutMs: 1000 }), {
    logger: pino({ level: "silent" }),
    metrics: new Metrics(),
  });
  for (const path of ["/live", "/live/stream", "/live/app.js"]) {
    const res = await app.request(path);
    assert.equal(res.status, 404, path);
    await res.body?.cancel();
  }
});

Deno.test("the stream sends the buffer: accepted events and rejections with their problems", async () => {
  const { app, hub } = liveApp(await shippedConfig());
  assert.equal((await app.request("/purchase_a_sword?sword_type=short")).status, 200);
  const bad = await app.request("/join_guild", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer s3cret" },
    body: JSON.stringify({ guild: 7, nope: "<b>" }),
  });
  assert.equal(bad.status, 400);
  assert.equal((await app.request("/no_such_action")).status, 404);
  assert.equal((await app.request("/healthz")).status, 200);
  const res = await app.request("/live/stream");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^text\/event-stream/);
  const text = await readUntil(res.body!, (t) => messages(t).length >= 3);
  const [accepted, rejected, missing] = messages(text);
  assert.equal(accepted!.kind, "accepted");
  assert.equal((accepted!.event as Record<string, unknown>).sword_type, "short");
  assert.equal(rejected!.kind, "rejected");
  assert.equal(rejected!.status, 400);
  assert.equal(rejected!.path, "/join_guild");
  assert.equal(rejected!.request_id, bad.headers.get("x-request-id"));
  const body = rejected!.body as { error: string; fields: { field: string }[] };
  assert.equal(body.error, "invalid_fields");
  assert.deepEqual(body.fields.map((f) => f.field).sort(), ["guild", "nope"]);
  assert.doesNotMatch(text, /s3cret/, "no request header reaches the page");
  assert.equal(missing!.status, 404);
  assert.equal(messages(text).length, 3, "Herald's own pages are not shown");
  hub.close();
});

Deno.test("the stream tells a viewer that fell behind how many items it lost", async () => {
  const config = await configWith({ live: { buffer_events: 5 } });
  const { app, hub } = liveApp(config);
  const viewer = hub.connect(new Map())!;
  for (let i = 0; i < 12; i++) await app.request("/purchase_a_sword");
  const text = await readUntil(viewerStream(hub, viewer), (t) => messages(t).length >= 5);
  const status = JSON.parse(text.split("event: status\ndata: ")[1]!.split("\n")[0]!);
  assert.equal(status.dropped, 7);
  assert.deepEqual(messages(text).map((m) => m.seq), [8, 9, 10, 11, 12]);
  hub.close();
});

Deno.test("the page is served with a strict CSP and never with CORS headers", async () => {
  const { app, hub } = liveApp(await configWith({ cors: { origins: ["*"] } }));
  const res = await app.request("/live", { headers: { origin: "https://evil.example" } });
  assert.equal(res.status, 200);
  const html = await res.text();
  assert.match(html, /<script src="\/live\/app.js"><\/script>/);
  assert.match(res.headers.get("content-security-policy")!, /script-src 'self'/);
  assert.equal(res.headers.get("access-control-allow-origin"), null);
  const js = await app.request("/live/app.js");
  assert.doesNotMatch(await js.text(), /innerHTML/, "values are rendered as text only");
  hub.close();
});

Deno.test("with a key, /live asks for it and the stream needs a session or the key", async () => {
  const { app, hub } = liveApp(await shippedConfig(), "open sesame");
  const page = await app.request("/live");
  assert.equal(page.status, 401);
  assert.match(await page.text(), /action="\/live\/login"/);
  assert.equal((await app.request("/live/stream")).status, 401);

  const login = (key: string) =>
    app.request("/live/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ key }).toString(),
    });
  assert.equal((await login("wrong")).status, 401);
  const ok = await login("open sesame");
  assert.equal(ok.status, 303);
  const cookie = ok.headers.get("set-cookie")!;
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  assert.match(cookie, /Path=\/live/);
  assert.doesNotMatch(cookie, /open sesame/, "the cookie is a signed session, not the key");
  const session = cookie.split(";")[0]!;
  assert.equal((await app.request("/live", { headers: { cookie: session } })).status, 200);
  const stream = await app.request("/live/stream", { headers: { cookie: session } });
  assert.equal(stream.status, 200);
  await stream.body!.cancel();
  const forged = session.replace(/[0-9a-f]$/, (c) => (c === "0" ? "1" : "0"));
  assert.equal((await app.request("/live/stream", { headers: { cookie: forged } })).status, 401);
  const bearer = await app.request("/live/stream", {
    headers: { authorization: "Bearer open sesame" },
  });
  assert.equal(bearer.status, 200);
  await bearer.body!.cancel();
  hub.close();
});

Deno.test("a session expires, and a key of another server does not open it", async () => {
  let now = Date.UTC(2026, 0, 1);
  const key = new LiveKey("k", () => now);
  const token = await key.session();
  assert.equal(await key.validSession(token), true);
  assert.equal(await new LiveKey("other", () => now).validSession(token), false);
  now += LiveKey.sessionSeconds * 1000 + 1000;
  assert.equal(await key.validSession(token), false);
});

Deno.test("two sessions of the same second differ, and each opens the page", async () => {
  const key = new LiveKey("k", () => Date.UTC(2026, 0, 1));
  const [a, b] = [await key.session(), await key.session()];
  assert.notEqual(a, b);
  assert.equal(await key.validSession(a), true);
  assert.equal(await key.validSession(b), true);
});

Deno.test("no more of a login form is read than a key needs", async () => {
  const { app, hub } = liveApp(await shippedConfig(), "open sesame");
  const form = (body: BodyInit) =>
    app.request("/live/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body,
    });
  const big = await form("key=" + "x".repeat(5000));
  assert.equal(big.status, 413);
  assert.equal((await big.json()).error, "payload_too_large");
  const stream = (text: string) => new Blob([text]).stream();
  assert.equal((await form(stream("key=" + "x".repeat(5000)))).status, 413, "chunked, too");
  assert.equal((await form(stream("key=open%20sesame"))).status, 303);
  assert.equal((await form("key=open%20sesame")).status, 303);
  hub.close();
});

Deno.test("resolveLiveKey() trims the env value as it trims a file's", async () => {
  const { live } = await shippedConfig();
  const source = { env: () => "open sesame\n", readFile: () => "" };
  const key = resolveLiveKey({ ...live, key_env: "LIVE_KEY" }, source);
  assert.ok(key);
  assert.equal(await key.matches("open sesame"), true);
  assert.throws(
    () => resolveLiveKey({ ...live, key_env: "LIVE_KEY" }, { ...source, env: () => " \n" }),
    /Live page key: env LIVE_KEY is not set/,
  );
});

Deno.test("past 10 wrong keys in a minute, no key is taken for a while: 429 with Retry-After", async () => {
  const clock = { now: Date.UTC(2026, 0, 1) };
  const { app, hub } = liveApp(await shippedConfig(), new LiveKey("open sesame", () => clock.now));
  const login = (key: string) =>
    app.request("/live/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ key }).toString(),
    });
  const statuses = [];
  for (let i = 0; i < 10; i++) statuses.push((await login(`guess ${i}`)).status);
  assert.deepEqual(statuses, [...Array(9).fill(401), 429]);
  const right = await login("open sesame");
  assert.equal(right.status, 429, "not even the right key while locked");
  assert.equal(right.headers.get("retry-after"), "60");
  const bearer = await app.request("/live/stream", {
    headers: { authorization: "Bearer open sesame" },
  });
  assert.equal(bearer.status, 429, "the Bearer key is a guess too");
  clock.now += 60_000;
  assert.equal((await login("open sesame")).status, 303);
  hub.close();
});

Deno.test("parseConfig() requires a live key with write keys, and never a literal one", async () => {
  const doc = parse(await Deno.readTextFile("config/gateway.yaml"));
  const errors = (sections: Record<string, unknown>) => {
    const result = parseConfig(stringify({ ...doc, ...sections }), { registry: SINKS });
    return result.ok ? [] : result.errors;
  };
  const keys = { write_keys: [{ name: "mobile", value_env: "K" }] };
  assert.match(
    errors({ auth: keys, live: { enabled: true } }).join("\n"),
    /live\.enabled: write keys are configured, so the live page needs a key of its own/,
  );
  assert.deepEqual(errors({ auth: keys, live: { enabled: true, key_env: "LIVE_KEY" } }), []);
  assert.match(errors({ live: { key: "x" } }).join("\n"), /live\.key: .*never goes in the config/);
  assert.match(
    errors({ live: { key_env: "A", key_file: "/b" } }).join("\n"),
    /at most one of key_env and key_file/,
  );
  assert.match(
    errors({ actions: [{ name: "x", path: "/live/x" }] }).join("\n"),
    /is reserved by Herald/,
  );
});

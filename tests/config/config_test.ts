import assert from "node:assert/strict";
import { applyOverrides, type GatewayConfig, loadConfig, parseConfig } from "../../config/mod.ts";
import { SINKS } from "../../sinks/mod.ts";

const MINIMAL = `actions:\n  - name: ping\n`;

function config(text: string): GatewayConfig {
  const result = parseConfig(text, { registry: SINKS, file: "test.yaml" });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return result.config;
}

function errors(text: string): string[] {
  const result = parseConfig(text, { registry: SINKS, file: "test.yaml" });
  assert.equal(result.ok, false, "expected the config to be rejected");
  return result.ok ? [] : result.errors;
}

Deno.test("parseConfig() accepts the shipped config with every seed action", async () => {
  const result = await loadConfig("config/gateway.yaml", { registry: SINKS });
  assert.ok(result.ok, result.ok ? "" : result.errors.join("\n"));
  const byPath = Object.fromEntries(result.config.actions.map((a) => [a.path, a]));
  const expected: Record<string, [string, string]> = {
    "/": ["default", "This is the default response!\n"],
    "/purchase_a_sword": ["purchases", "Sword Purchased!\n"],
    "/purchase_a_knife": ["purchases", "Knife Purchased!\n"],
    "/purchase_an_axe": ["purchases", "Axe Purchased!\n"],
    "/purchase_a_shield": ["purchases", "Shield Purchased!\n"],
    "/join_guild": ["joins", "Guild Joined!\n"],
    "/join_a_guild": ["joins", "Guild Joined!\n"],
    "/declare_peace": ["declarations", "Peace Declared!\n"],
    "/declare_a_war": ["declarations", "War Declared!\n"],
  };
  for (const [path, [table, response]] of Object.entries(expected)) {
    assert.equal(byPath[path]?.table, table, path);
    assert.equal(byPath[path]?.response, response, path);
  }
  const strength = byPath["/purchase_a_shield"]?.fields.find((f) => f.name === "strength");
  assert.deepEqual(strength?.generate, { kind: "normal", mean: 5, sigma: 4, min: 0, max: 10 });
  assert.equal(strength?.type, "int");
});

Deno.test("parseConfig() fills defaults for a minimal config", () => {
  const c = config(MINIMAL);
  assert.equal(c.server.port, 5000);
  assert.equal(c.server.max_body_bytes, 65536);
  assert.deepEqual(c.enrich.headers, ["host", "user-agent", "accept"]);
  assert.deepEqual(c.sinks, ["stdout"]);
  assert.deepEqual(c.actions[0], {
    name: "ping",
    path: "/ping",
    event_type: "ping",
    table: "events",
    response: "OK\n",
    fields: [],
  });
});

Deno.test("parseConfig() rejects unknown keys with file, line and key path", () => {
  assert.deepEqual(errors(`server:\n  port: 5000\n  prot: 1\n${MINIMAL}`), [
    "test.yaml:3: server.prot: unknown key (expected port, hostname, max_body_bytes, " +
    "max_batch_events, max_event_bytes, max_json_depth, body_timeout_ms, trust_proxy, " +
    "ack_timeout_ms, " +
    "shutdown_timeout_ms, ready_queue_ratio)",
  ]);
});

Deno.test("parseConfig() names an unknown field type and its line", () => {
  const text = `actions:\n  - name: a\n  - name: b\n  - name: c\n    fields:\n      strength:\n` +
    `        type: integr\n`;
  assert.deepEqual(errors(text), [
    'test.yaml:7: actions[2].fields.strength.type: unknown type "integr" ' +
    "(expected one of string, int, float, bool, enum, timestamp)",
  ]);
});

Deno.test("parseConfig() rejects wrong types, reporting every problem", () => {
  const found = errors(`server:\n  port: "80"\n  trust_proxy: yes please\nactions: []\n`);
  assert.deepEqual(found, [
    'test.yaml:2: server.port: expected a number, got string "80"',
    'test.yaml:3: server.trust_proxy: expected true or false, got string "yes please"',
    "test.yaml:4: actions: must have at least 1 item(s)",
  ]);
});

Deno.test("parseConfig() rejects duplicate action names and paths", () => {
  const text = `actions:\n  - name: a\n  - name: a\n    path: /x\n  - name: b\n    path: /x\n`;
  assert.deepEqual(errors(text), [
    'test.yaml:3: actions[1].name: duplicate action name "a" (also actions[0])',
    'test.yaml:6: actions[2].path: duplicate path "/x" (also actions[1])',
  ]);
});

Deno.test("parseConfig() rejects unknown sinks and credential headers", () => {
  const text =
    `sinks: [stdout, kafak]\nenrich:\n  headers: [host, authorization, x-api-key]\n${MINIMAL}`;
  const found = errors(text);
  assert.equal(found.length, 1, found.join("\n"));
  assert.match(
    found[0]!,
    /^test\.yaml:1: sinks\[1\]: unknown value "kafak" \(expected one of "stdout"/,
  );
  const headers = errors(`enrich:\n  headers: [host, authorization, x-api-key]\n${MINIMAL}`);
  assert.deepEqual(headers, [
    'test.yaml:2: enrich.headers[1]: header "authorization" carries credentials and is never copied into events',
    'test.yaml:2: enrich.headers[2]: header "x-api-key" carries credentials and is never copied into events',
  ]);
});

Deno.test("parseConfig() rejects reserved paths and columns, and type clashes within a table", () => {
  const text = `actions:
  - name: a
    path: /events
  - name: b
    table: t
    fields:
      event_id: { type: string }
      n: { type: int }
  - name: c
    table: t
    fields:
      n: { type: float }
`;
  assert.deepEqual(errors(text), [
    'test.yaml:3: actions[0].path: path "/events" is reserved by Herald',
    'test.yaml:7: actions[1].fields.event_id: "event_id" is a column Herald sets itself',
    'test.yaml:12: actions[2].fields.n.type: table "t" already has "n" as int (action "b")',
  ]);
});

Deno.test("parseConfig() checks field specs: limits, defaults and sources", () => {
  const text = `actions:
  - name: a
    fields:
      e: { type: enum }
      s: { type: string, min: 3 }
      i: { type: int, min: 5, max: 1 }
      d: { type: int, max: 10, default: 11 }
      g: { type: string, generate: { normal: { mean: 1, sigma: 1 } } }
      r: { type: int, required: true, default: 1 }
      c: { type: bool, value: maybe }
`;
  assert.deepEqual(errors(text), [
    "test.yaml:4: actions[0].fields.e.values: an enum field needs a non-empty list of strings",
    "test.yaml:5: actions[0].fields.s.min: only applies to int and float fields",
    "test.yaml:6: actions[0].fields.i.max: must not be below min (5)",
    "test.yaml:7: actions[0].fields.d.default: must be at most 10",
    "test.yaml:8: actions[0].fields.g.generate: only int and float fields can be generated",
    'test.yaml:9: actions[0].fields.r.required: a required field cannot have "default"',
    "test.yaml:10: actions[0].fields.c.value: must be true or false",
  ]);
});

Deno.test("parseConfig() reports YAML syntax errors and duplicate keys with their line", () => {
  const [syntax] = errors(`actions:\n  - name: a\n   bad: [\n`);
  assert.match(syntax!, /^test\.yaml:3: /);
  const [dup] = errors(`server:\n  port: 1\n  port: 2\n${MINIMAL}`);
  assert.match(dup!, /^test\.yaml:3: .*[Mm]ap keys must be unique/);
});

Deno.test("loadConfig() names a missing file", async () => {
  const result = await loadConfig("no/such.yaml", { registry: SINKS });
  assert.equal(result.ok, false);
  assert.match(result.ok ? "" : result.errors[0]!, /^Cannot read config "no\/such\.yaml": /);
});

Deno.test("applyOverrides() takes port and sinks from flags before env", () => {
  const base = config(MINIMAL);
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  const fromEnv = applyOverrides(base, {
    registry: SINKS,
    env: env({ PORT: "8080", HERALD_SINKS: "stdout" }),
  });
  assert.equal(fromEnv.server.port, 8080);
  const fromFlags = applyOverrides(base, {
    registry: SINKS,
    port: 9090,
    env: env({ PORT: "8080" }),
  });
  assert.equal(fromFlags.server.port, 9090);
  assert.throws(
    () => applyOverrides(base, { registry: SINKS, sinks: "stdout,kafak", env: env({}) }),
    /Unknown sink "kafak": expected one of "stdout"/,
  );
  assert.throws(
    () => applyOverrides(base, { registry: SINKS, env: env({ PORT: "http" }) }),
    /Invalid port "http"/,
  );
});

Deno.test("applyOverrides() takes server.trust_proxy from HERALD_TRUST_PROXY, true or false only", () => {
  const base = config(MINIMAL);
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  const trust = (vars: Record<string, string>, from = base) =>
    applyOverrides(from, { registry: SINKS, env: env(vars) }).server.trust_proxy;
  assert.equal(trust({}), false);
  assert.equal(trust({ HERALD_TRUST_PROXY: "true" }), true);
  const trusting = { ...base, server: { ...base.server, trust_proxy: true } };
  assert.equal(trust({ HERALD_TRUST_PROXY: "false" }, trusting), false);
  assert.equal(trust({ HERALD_TRUST_PROXY: "" }, trusting), true);
  assert.throws(
    () => trust({ HERALD_TRUST_PROXY: "yes" }),
    new TypeError('Invalid HERALD_TRUST_PROXY "yes": expected true or false'),
  );
});

import assert from "node:assert/strict";
import type { ActionConfig } from "../../config/mod.ts";
import { parseFieldSpec } from "../../config/fields.ts";
import type { Issue } from "../../config/schema.ts";
import { clientIp, enrich, readFields } from "../../routes/enrich.ts";
import { uuidv7Generator } from "../../routes/ids.ts";
import { withSeed } from "../_testing.ts";

function field(name: string, spec: Record<string, unknown>) {
  const issues: Issue[] = [];
  const parsed = parseFieldSpec(name, spec, [name], issues);
  assert.ok(parsed, issues.map((i) => i.message).join("; "));
  return parsed;
}

const ACTION: ActionConfig = {
  name: "purchase_a_sword",
  path: "/purchase_a_sword",
  event_type: "purchase_sword",
  table: "purchases",
  response: "Sword Purchased!\n",
  fields: [
    field("description", { type: "string", value: "sword" }),
    field("sword_type", { type: "enum", values: ["short", "large"], default: "large" }),
    field("strength", {
      type: "int",
      generate: { normal: { mean: 5, sigma: 4, min: 0, max: 10 } },
    }),
    field("price", { type: "float", min: 0 }),
    field("vip", { type: "bool" }),
    field("at", { type: "timestamp" }),
    field("note", { type: "string", max_length: 3, required: true }),
  ],
};

const fixedRandom = () => 0.5;

Deno.test("readFields() coerces query text to each field type", () => {
  const input = {
    price: "9.5",
    vip: "true",
    at: "2026-11-23T10:00:00+01:00",
    note: "héé",
    sword_type: "short",
  };
  const result = readFields(ACTION, input, true, fixedRandom);
  assert.ok("values" in result, JSON.stringify(result));
  assert.deepEqual(result.values, {
    description: "sword",
    sword_type: "short",
    // normal(5, 4) with u = v = 0.5: 5 + 4 * sqrt(2 ln 2) * cos(pi) = 0.29, rounded
    strength: 0,
    price: 9.5,
    vip: true,
    at: "2026-11-23T09:00:00.000Z",
    note: "héé",
  });
});

Deno.test("readFields() takes typed JSON and fills defaults and nulls", () => {
  const result = readFields(ACTION, { note: "a", at: 1795435200000 }, false, fixedRandom);
  assert.ok("values" in result);
  assert.equal(result.values.sword_type, "large");
  assert.equal(result.values.price, null);
  assert.equal(result.values.at, "2026-11-23T12:00:00.000Z");
});

Deno.test("readFields() names every bad field and its problem", () => {
  const input = {
    price: "-1",
    vip: "maybe",
    at: "yesterday",
    sword_type: "tiny",
    strength: "10",
    description: "axe",
    extra: "1",
  };
  const result = readFields(ACTION, input, true, fixedRandom);
  assert.ok("problems" in result);
  assert.deepEqual(result.problems, [
    { field: "description", problem: "is set by the server" },
    { field: "sword_type", problem: 'must be one of "short", "large"' },
    { field: "strength", problem: "is set by the server" },
    { field: "price", problem: "must be at least 0" },
    { field: "vip", problem: "must be true or false" },
    { field: "at", problem: "must be an ISO 8601 date-time or epoch milliseconds" },
    { field: "note", problem: "is required" },
    { field: "extra", problem: "is not a field of this action" },
  ]);
});

Deno.test("readFields() keeps JSON types strict: no numbers as strings in JSON", () => {
  const result = readFields(ACTION, { note: "abcd", price: "1", vip: 1 }, false, fixedRandom);
  assert.ok("problems" in result);
  assert.deepEqual(result.problems, [
    { field: "price", problem: "must be a number" },
    { field: "vip", problem: "must be true or false" },
    { field: "note", problem: "must be at most 3 characters" },
  ]);
});

Deno.test("readFields() draws strength within the configured clamp", async () => {
  await withSeed(1, (random) => {
    const draws = Array.from({ length: 5000 }, () => {
      const result = readFields(ACTION, { note: "x" }, true, random);
      assert.ok("values" in result);
      return result.values.strength as number;
    });
    assert.ok(draws.every((s) => Number.isInteger(s) && s >= 0 && s <= 10));
    const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
    assert.ok(mean > 4.3 && mean < 5.3, `mean ${mean}`);
    assert.ok(draws.includes(0) && draws.includes(10), "the clamp bounds are reached");
  });
});

Deno.test("enrich() builds the flat event with a fixed clock and ids", () => {
  const headers = new Headers({
    host: "knight1.comcast.com",
    "user-agent": "ApacheBench/2.3",
    authorization: "Bearer CANARY",
  });
  const event = enrich(ACTION, { description: "sword", strength: 7 }, {
    headers,
    clientIp: "10.0.0.1",
    requestId: "req-1",
  }, {
    headers: ["host", "user-agent", "accept", "authorization"],
    deps: {
      now: () => Date.UTC(2026, 10, 23, 10, 0, 0, 5),
      eventId: (ms) => `id-${ms}`,
      random: fixedRandom,
    },
  });
  assert.deepEqual(Object.entries(event), [
    ["event_id", "id-1795428000005"],
    ["event_type", "purchase_sword"],
    ["action", "purchase_a_sword"],
    ["received_at", "2026-11-23T10:00:00.005Z"],
    ["host", "knight1.comcast.com"],
    ["user_agent", "ApacheBench/2.3"],
    ["accept", null],
    ["client_ip", "10.0.0.1"],
    ["request_id", "req-1"],
    ["description", "sword"],
    ["strength", 7],
  ]);
});

Deno.test("clientIp() trusts X-Forwarded-For only when told, and then only its last hop", () => {
  const headers = new Headers({ "x-forwarded-for": "6.6.6.6, 203.0.113.9" });
  assert.equal(clientIp(headers, "10.0.0.2", false), "10.0.0.2");
  assert.equal(clientIp(headers, "10.0.0.2", true), "203.0.113.9");
  assert.equal(clientIp(new Headers(), "10.0.0.2", true), "10.0.0.2");
});

Deno.test("uuidv7Generator() makes valid, time-ordered ids", () => {
  const next = uuidv7Generator();
  const ms = Date.UTC(2026, 10, 23);
  const ids = Array.from({ length: 5000 }, (_, i) => next(ms + Math.floor(i / 1000)));
  for (const id of ids) {
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  }
  assert.deepEqual([...ids].sort(), ids, "ids sort in creation order");
  assert.equal(new Set(ids).size, ids.length);
  assert.equal(
    parseInt(ids[0]!.replace("-", "").slice(0, 12), 16),
    ms,
    "the first 48 bits are the time",
  );
  // A clock that steps back does not reorder ids.
  const later = next(ms - 1000);
  assert.ok(later > ids.at(-1)!);
});

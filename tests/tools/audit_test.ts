import assert from "node:assert/strict";
import { npmImports } from "../../tools/audit/mod.ts";

Deno.test("audit lists every pinned npm import of deno.json once", async () => {
  const denoJson = JSON.parse(await Deno.readTextFile("deno.json"));
  const deps = npmImports(denoJson);
  assert.equal(deps.hono, "4.13.19", "hono and hono/ are one package");
  assert.equal(deps["@duckdb/node-api"], "1.5.5-r.5", "scoped names keep their scope");
  const npmCount = new Set(
    Object.values(denoJson.imports as Record<string, string>)
      .filter((s) => s.startsWith("npm:"))
      .map((s) => s.replace(/^npm:\/?/, "").replace(/@[^@/]+\/?$/, "")),
  ).size;
  assert.equal(Object.keys(deps).length, npmCount);
  for (const version of Object.values(deps)) assert.match(version, /^\d+\.\d+\.\d+/, "exact pins");
});

/**
 * The shape of the house: imports between Herald's source files form no
 * circle, and folders import only downwards:
 * `main.ts` -> `ops/` -> `routes/` -> `live/` -> `sinks/` -> `config/`, with
 * `lander/` and `query/` beside `ops/`. Developer tools (`tools/`) may import anything;
 * nothing but tests imports them.
 */
import assert from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";

const ROOT = normalize(join(dirname(new URL(import.meta.url).pathname), ".."));

/** Lower ranks may import higher ones, never the reverse; equal ranks only within a folder. */
const RANK: Record<string, number> = {
  "main.ts": 0,
  tools: 0,
  ops: 1,
  lander: 1,
  query: 1,
  routes: 2,
  live: 2.5,
  sinks: 3,
  config: 4,
};

/** Relative specifiers of static imports and re-exports, dynamic imports and worker URLs. */
const SPECIFIER =
  /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|new URL\(\s*)["'](\.{1,2}\/[^"']+)["']/g;

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(join(ROOT, dir))) {
    const path = dir === "" ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory && !entry.name.startsWith(".") && entry.name !== "tests") {
      if (dir !== "" || entry.name in RANK) out.push(...await sourceFiles(path));
    } else if (entry.isFile && path.endsWith(".ts") && (dir !== "" || path === "main.ts")) {
      out.push(path);
    }
  }
  return out;
}

/** Every source file and the source files it imports, by path from the repository root. */
async function importGraph(): Promise<Map<string, string[]>> {
  const graph = new Map<string, string[]>();
  for (const file of await sourceFiles("")) {
    // Comment lines are left out: JSDoc examples show imports that are not made.
    const text = (await Deno.readTextFile(join(ROOT, file))).split("\n")
      .filter((line) => !/^\s*(\*|\/\*|\/\/)/.test(line)).join("\n");
    const targets = [...text.matchAll(SPECIFIER)]
      .map((m) => relative(ROOT, join(ROOT, dirname(file), m[1]!)))
      .filter((target) => target.endsWith(".ts"));
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/** The strongly connected components with more than one file, or a file importing itself. */
export function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (node: string) => {
    index.set(node, counter);
    low.set(node, counter++);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || (graph.get(node) ?? []).includes(node)) {
        cycles.push(component.sort());
      }
    }
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return cycles;
}

/** Imports that go up or sideways between folders, as `from -> to`. */
export function layerViolations(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const folder = (file: string) => file.split("/")[0]!;
  const out: string[] = [];
  for (const [from, targets] of graph) {
    for (const to of targets) {
      const [a, b] = [folder(from), folder(to)];
      if (a === b || (a === "tools" && b !== "tools" && b in RANK)) continue;
      const ok = a !== "tools" && b !== "tools" && RANK[a] !== undefined &&
        RANK[b] !== undefined && RANK[b]! > RANK[a]!;
      if (!ok) out.push(`${from} -> ${to}`);
    }
  }
  return out;
}

Deno.test("findCycles() finds a circle of three files and a file importing itself", () => {
  const graph = new Map([
    ["a.ts", ["b.ts"]],
    ["b.ts", ["c.ts"]],
    ["c.ts", ["a.ts", "d.ts"]],
    ["d.ts", []],
    ["e.ts", ["e.ts"]],
  ]);
  assert.deepEqual(findCycles(graph), [["a.ts", "b.ts", "c.ts"], ["e.ts"]]);
  assert.deepEqual(findCycles(new Map([["a.ts", ["b.ts"]], ["b.ts", []]])), []);
});

Deno.test("layerViolations() names imports that go up, sideways or into tools/", () => {
  const graph = new Map([
    ["sinks/kafka/mod.ts", ["config/mod.ts", "ops/metrics.ts"]],
    ["lander/main.ts", ["query/mod.ts", "sinks/mod.ts"]],
    ["routes/mod.ts", ["tools/load/mod.ts"]],
    ["tools/bench/main.ts", ["tools/load/mod.ts", "main.ts", "lander/mod.ts"]],
  ]);
  assert.deepEqual(layerViolations(graph), [
    "sinks/kafka/mod.ts -> ops/metrics.ts",
    "lander/main.ts -> query/mod.ts",
    "routes/mod.ts -> tools/load/mod.ts",
  ]);
});

Deno.test("Herald's imports form no circle and flow one way", async () => {
  const graph = await importGraph();
  // The graph must be the real one: these edges exist today.
  assert.ok(graph.get("main.ts")?.includes("ops/server.ts"), "main.ts imports ops/server.ts");
  assert.ok(graph.get("sinks/mod.ts")?.includes("sinks/contract.ts"));
  for (const [file, targets] of graph) {
    for (const target of targets) {
      assert.ok(graph.has(target), `${file} imports ${target}, which is not a source file`);
    }
  }
  assert.deepEqual(findCycles(graph), [], "import cycles");
  assert.deepEqual(layerViolations(graph), [], "imports against the layer order");
});

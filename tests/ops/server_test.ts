/** Tests for ops/server.ts in-process: a real socket, a memory sink injected through the registry. */
import assert from "node:assert/strict";
import pino from "pino";
import { object } from "../../config/schema.ts";
import { StartError, startServer } from "../../ops/server.ts";
import type { SinkDefinition } from "../../sinks/contract.ts";
import { MemorySink } from "../../sinks/memory.ts";

const CONFIG = (actions: string[]) => `
server: { port: 0, hostname: 127.0.0.1, shutdown_timeout_ms: 2000 }
sinks: [memory]
actions:
${actions.map((name) => `  - name: ${name}\n    response: "${name}\\n"`).join("\n")}
`;

/** A registry of one sink, `memory`, that remembers the sink it made. */
function memoryRegistry(): { registry: SinkDefinition[]; sink: () => MemorySink } {
  let made: MemorySink | undefined;
  const definition: SinkDefinition<Record<string, never>> = {
    name: "memory",
    options: object({}),
    create: () => (made = new MemorySink()),
  };
  return {
    registry: [definition as SinkDefinition],
    sink: () => made ?? assert.fail("no memory sink was created"),
  };
}

Deno.test("startServer() serves, reloads and drains in-process", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/gateway.yaml`;
  await Deno.writeTextFile(file, CONFIG(["join_guild"]));
  const { registry, sink } = memoryRegistry();
  const server = await startServer({
    config: file,
    registry,
    logger: pino({ level: "silent" }),
    env: () => undefined,
  });
  try {
    const url = (path: string) => `http://127.0.0.1:${server.addr.port}${path}`;
    const first = await fetch(url("/join_guild"));
    assert.equal(await first.text(), "join_guild\n");
    assert.equal(sink().events.length, 1);
    const missing = await fetch(url("/declare_war"));
    assert.equal(missing.status, 404);
    await missing.body?.cancel();

    await Deno.writeTextFile(file, CONFIG(["join_guild", "declare_war"]));
    const outcome = await server.reload("test");
    assert.deepEqual(outcome.applied && outcome.added, ["declare_war"]);
    const second = await fetch(url("/declare_war"));
    assert.equal(await second.text(), "declare_war\n");
    assert.equal(sink().events.at(-1)?.action, "declare_war");

    await Deno.writeTextFile(file, "actions: []\n");
    const rejected = await server.reload("test");
    assert.equal(rejected.applied, false);
    assert.equal(await fetch(url("/declare_war")).then((r) => r.text()), "declare_war\n");
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
  assert.equal(sink().closed, true, "the drain closes every sink");
  await assert.rejects(fetch(`http://127.0.0.1:${server.addr.port}/join_guild`));
});

Deno.test("startServer() refuses a bad config with every error, naming the file", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/gateway.yaml`;
  await Deno.writeTextFile(file, "server: { port: nope }\nactions: []\n");
  try {
    const error = await startServer({
      config: file,
      registry: memoryRegistry().registry,
      logger: pino({ level: "silent" }),
      env: () => undefined,
    }).then(() => assert.fail("started"), (e) => e);
    assert.ok(error instanceof StartError);
    assert.equal(error.lines.length, 2, error.message);
    for (const line of error.lines) assert.match(line, new RegExp(`^${file}:\\d+: `));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

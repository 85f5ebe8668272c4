import assert from "node:assert/strict";
import { sseMessages } from "../../live/mod.ts";
import { configFile, logged, runHeraldToExit, startHerald } from "../_testing.ts";

const WARNING = "the live page is open to anyone who can reach this address";

/** The first `status` message of a live stream, then the stream is closed. */
async function firstStatus(url: string, init?: RequestInit): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}/live/stream`, init);
  assert.equal(res.status, 200);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    while (!/event: status\ndata: .*\n/.test(text)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`stream ended: ${text}`);
      text += value;
    }
  } finally {
    await reader.cancel();
  }
  return JSON.parse(text.match(/event: status\ndata: (.*)\n/)![1]!);
}

Deno.test("serve --live warns when the open page listens beyond loopback, and drains with a viewer", async () => {
  const herald = await startHerald(["--live", "--sinks", "stdout"]);
  try {
    const line = JSON.parse(await logged(herald, WARNING));
    assert.equal(line.level, 40);
    assert.equal(line.hostname, "0.0.0.0");
    // A viewer that stays connected must not hold the drain up.
    const res = await fetch(`${herald.url}/live/stream`);
    assert.equal(res.status, 200);
    const started = performance.now();
    const status = await herald.stop();
    assert.equal(status.code, 0, herald.stderr());
    assert.ok(performance.now() - started < 5000, "drained without waiting for the viewer");
    await res.body?.cancel().catch(() => {});
  } finally {
    await herald.stop();
  }
});

Deno.test("serve --live on 127.0.0.1 does not warn", async () => {
  const file = await configFile({ server: { hostname: "127.0.0.1" } });
  const herald = await startHerald(["--config", file, "--live", "--sinks", "stdout"]);
  try {
    assert.equal((await fetch(`${herald.url}/live`)).status, 200);
    assert.ok(!herald.stderr().includes(WARNING), herald.stderr());
  } finally {
    await herald.stop();
    await Deno.remove(file);
  }
});

Deno.test("serve --live refuses to start with write keys but no live key", async () => {
  const file = await configFile({
    auth: { write_keys: [{ name: "mobile", value_env: "HERALD_TEST_KEY" }] },
  });
  try {
    const result = await runHeraldToExit(["--config", file, "--port", "0", "--live"]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /the live page needs a key of its own/);
    assert.ok(!result.stderr.includes('"listening"'), result.stderr);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("serve with live.key_env requires the key on /live/stream", async () => {
  const file = await configFile({ live: { enabled: true, key_env: "HERALD_TEST_LIVE_KEY" } });
  const herald = await startHerald(["--config", file, "--sinks", "stdout"], {
    env: { HERALD_TEST_LIVE_KEY: "peek-4711" },
  });
  try {
    const denied = await fetch(`${herald.url}/live/stream`);
    assert.equal(denied.status, 401);
    await denied.body?.cancel();
    const status = await firstStatus(herald.url, {
      headers: { authorization: "Bearer peek-4711" },
    });
    assert.equal(status.workers, 1);
    assert.ok(!herald.stderr().includes(WARNING), "a page with a key is not open");
    assert.ok(!herald.stderr().includes("peek-4711"), "the key is never logged");
  } finally {
    await herald.stop();
    await Deno.remove(file);
  }
});

Deno.test({
  name: "serve --workers 2 --live: one page sees both workers' events, resumes where it left off",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const herald = await startHerald(["--workers", "2", "--live", "--sinks", "stdout"]);
    try {
      await logged(herald, "every worker listening");
      // New connections each: the kernel spreads them over both workers.
      const served = new Set<number>();
      for (let i = 0; i < 40; i++) {
        const res = await fetch(`${herald.url}/healthz`, { headers: { connection: "close" } });
        served.add((await res.json()).worker);
        await (await fetch(`${herald.url}/purchase_a_sword?sword_type=short`, {
          headers: { connection: "close" },
        })).text();
      }
      assert.equal(served.size, 2, "both workers took requests");
      const res = await fetch(`${herald.url}/live/stream`);
      const seen = new Map<number, number>();
      let status: Record<string, unknown> = {};
      let lastId = "";
      for await (const message of sseMessages(res.body!)) {
        if (message.event === "status") status = JSON.parse(message.data);
        else {
          const record = JSON.parse(message.data);
          seen.set(record.worker, (seen.get(record.worker) ?? 0) + 1);
          lastId = message.id!;
        }
        if ((seen.get(0) ?? 0) + (seen.get(1) ?? 0) >= 40 && status.sources === 2) break;
      }
      await res.body?.cancel().catch(() => {});
      assert.ok((seen.get(0) ?? 0) > 0 && (seen.get(1) ?? 0) > 0, JSON.stringify([...seen]));
      assert.equal(status.workers, 2);
      assert.equal(status.worker, null, "the whole server, not one worker");
      assert.match(lastId, /^0:\d+,1:\d+$/);

      // A reconnect with that id gets only what came after it, from both workers.
      await (await fetch(`${herald.url}/purchase_a_knife`, { headers: { connection: "close" } }))
        .text();
      const again = await fetch(`${herald.url}/live/stream`, {
        headers: { "last-event-id": lastId },
      });
      for await (const message of sseMessages(again.body!)) {
        if (message.event === "status") continue;
        assert.equal(JSON.parse(message.data).event.action, "purchase_a_knife");
        break;
      }
      await again.body?.cancel().catch(() => {});
    } finally {
      await herald.stop();
    }
  },
});

Deno.test("a reload turns the live page on and off; turned off, its viewers' streams end", async () => {
  const file = await configFile({ live: { enabled: false } });
  const herald = await startHerald(["--config", file, "--sinks", "stdout"]);
  const setLive = async (enabled: boolean, count: number) => {
    const text = await Deno.readTextFile(file);
    await Deno.writeTextFile(file, text.replace(/enabled: (true|false)/, `enabled: ${enabled}`));
    herald.child.kill("SIGHUP");
    await logged(herald, '"msg":"config reloaded"', count);
  };
  try {
    assert.equal((await fetch(`${herald.url}/live`)).status, 404);
    await setLive(true, 1);
    await logged(herald, WARNING);
    assert.equal((await fetch(`${herald.url}/purchase_a_sword`)).status, 200);
    const res = await fetch(`${herald.url}/live/stream`);
    assert.equal(res.status, 200);
    const reading = res.text();
    await setLive(false, 2);
    assert.match(await reading, /"kind":"accepted"/, "the stream ended after what it sent");
    assert.equal((await fetch(`${herald.url}/live`)).status, 404);
  } finally {
    await herald.stop();
    await Deno.remove(file);
  }
});

import assert from "node:assert/strict";
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
  name: "serve --workers 2 --live: each worker serves the page and says which worker it is",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const herald = await startHerald(["--workers", "2", "--live", "--sinks", "stdout"]);
    try {
      await logged(herald, "every worker listening");
      const seen = new Set<unknown>();
      for (let i = 0; i < 20 && seen.size < 2; i++) {
        const status = await firstStatus(herald.url, { headers: { connection: "close" } });
        assert.equal(status.workers, 2);
        seen.add(status.worker);
      }
      assert.ok(seen.size >= 1);
      for (const worker of seen) assert.ok(worker === 0 || worker === 1, String(worker));
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

/**
 * The live page in a real browser (headless Chromium over the DevTools
 * Protocol) against a real Herald on a real socket. With
 * `HERALD_SCREENSHOT=<file.png>` it also writes a screenshot of the page
 * (how `docs/live.png` is made).
 */
import assert from "node:assert/strict";
import { configFile, startHerald, waitFor } from "../_testing.ts";
import { Browser, chromiumMissing } from "./_cdp.ts";

const XSS = "<img src=x onerror=window.__xss=1>";

Deno.test({
  name: "the live page shows events and rejections as they arrive, filters them, escapes them",
  ignore: (await chromiumMissing()) !== null,
  async fn() {
    const herald = await startHerald(["--live", "--sinks", "stdout"]);
    let browser: Browser | undefined;
    try {
      browser = await Browser.launch({ width: 1440, height: 800 });
      const page = browser;
      // Sent before the page opens: a new viewer gets the buffer.
      await send(herald.url, "/declare_a_war?target=orcs");
      await page.navigate(`${herald.url}/live`);
      await waitFor(
        () => page.evaluate(`document.getElementById("conn")?.textContent === "live"`),
        {
          what: "the page to connect",
        },
      );
      await waitFor(() => rowCount(page, "accepted"), { what: "the buffered event" });

      // An accepted event appears within 1 s of its 2xx.
      const sent = performance.now();
      await send(herald.url, "/purchase_a_sword?sword_type=short");
      await waitFor(() => page.evaluate(`document.body.innerText.includes("sword_type=short")`), {
        what: "the purchase on the page",
        intervalMs: 20,
      });
      const shownAfterMs = performance.now() - sent;
      assert.ok(shownAfterMs < 1000, `shown ${Math.round(shownAfterMs)} ms after the answer`);

      // A 400 appears with every field problem.
      const bad = await fetch(`${herald.url}/join_guild`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ guild: 42, level: 3 }),
      });
      assert.equal(bad.status, 400);
      const requestId = bad.headers.get("x-request-id")!;
      await bad.body?.cancel();
      const rejected = await waitFor(() =>
        page.evaluate<string | null>(
          `[...document.querySelectorAll("#rows tr.rejected")].map((r) => r.innerText)
            .find((t) => t.includes(${JSON.stringify(requestId)})) ?? null`,
        ), { what: "the 400 on the page" });
      assert.match(rejected, /400/);
      assert.match(rejected, /invalid_fields/);
      assert.match(rejected, /guild: /);
      assert.match(rejected, /level: is not a field of this action/);
      await send(herald.url, "/no_such_action", 404);
      await waitFor(() => page.evaluate(`document.body.innerText.includes("/no_such_action")`), {
        what: "the 404 on the page",
      });

      // A value that would be markup renders as text.
      await send(herald.url, `/join_guild?guild=${encodeURIComponent(XSS)}`);
      await waitFor(
        () => page.evaluate(`document.body.innerText.includes(${JSON.stringify(XSS)})`),
        {
          what: "the markup-like value as text",
        },
      );
      assert.equal(await page.evaluate(`document.querySelectorAll("#rows img").length`), 0);
      assert.equal(await page.evaluate(`typeof window.__xss`), "undefined");

      // Filters hide what they should.
      const visible = (cls: string) =>
        page.evaluate<number>(`document.querySelectorAll("#rows tr.${cls}:not([hidden])").length`);
      await setFilter(page, "f-status", "rejected");
      assert.equal(await visible("accepted"), 0);
      assert.equal(await visible("rejected"), 2);
      await setFilter(page, "f-status", "");
      await setFilter(page, "f-action", "purchase_a_sword");
      assert.equal(await visible("accepted"), 1);
      assert.equal(await visible("rejected"), 0);
      await setFilter(page, "f-action", "");
      await setFilter(page, "f-text", "orcs");
      assert.equal(await visible("accepted"), 1, "free text finds the war on the orcs");
      assert.equal(await visible("rejected"), 0);
      await setFilter(page, "f-text", "");
      assert.equal(await visible("accepted"), 3);

      // Paused, new rows wait; resumed, they appear.
      await page.evaluate(`document.getElementById("pause").click()`);
      await send(herald.url, "/declare_peace");
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await rowCount(page, "accepted"), 3, "nothing added while paused");
      await page.evaluate(`document.getElementById("pause").click()`);
      await waitFor(async () => (await rowCount(page, "accepted")) === 4, {
        what: "the held row after resume",
      });

      // A click shows the whole JSON; the events/s counter counts.
      await page.evaluate(`document.querySelector("#rows tr.accepted").click()`);
      const json = await page.evaluate<string>(`document.getElementById("json").textContent`);
      assert.match(json, /"event_id": "/);
      assert.match(json, /"event_type": "declare_peace"/);
      for (let i = 0; i < 5; i++) await send(herald.url, "/purchase_a_knife");
      await waitFor(
        () =>
          page.evaluate(
            `/^[1-9]\\d* events\\/s/.test(document.getElementById("rate").textContent)`,
          ),
        {
          what: "a non-zero events/s counter",
        },
      );

      const shot = Deno.env.get("HERALD_SCREENSHOT");
      if (shot) {
        await page.evaluate(
          `[...document.querySelectorAll("#rows tr.rejected")].at(-1).click()`,
        );
        await Deno.writeFile(shot, await page.screenshot());
      }
    } finally {
      await browser?.close();
      await herald.stop();
    }
  },
});

Deno.test({
  name: "the live page with a key: the browser logs in once, then its stream runs on the cookie",
  ignore: (await chromiumMissing()) !== null,
  async fn() {
    const file = await configFile({ live: { enabled: true, key_env: "HERALD_TEST_LIVE_KEY" } });
    const herald = await startHerald(["--config", file, "--sinks", "stdout"], {
      env: { HERALD_TEST_LIVE_KEY: "let me watch" },
    });
    let browser: Browser | undefined;
    try {
      browser = await Browser.launch();
      const page = browser;
      await page.navigate(`${herald.url}/live`);
      await waitFor(() => settled(page, `!!document.querySelector("input[name=key]")`), {
        what: "the key prompt",
      });
      const login = (key: string) =>
        page.evaluate(`(() => {
          document.querySelector("input[name=key]").value = ${JSON.stringify(key)};
          setTimeout(() => document.querySelector("form").submit(), 0);
        })()`);
      await login("not it");
      await waitFor(() => settled(page, `document.body.innerText.includes("Wrong key")`), {
        what: "the wrong key refused",
      });
      await login("let me watch");
      await waitFor(
        () => page.evaluate(`document.getElementById("conn")?.textContent === "live"`),
        {
          what: "the page to connect after the login",
        },
      );
      assert.equal(await page.evaluate(`document.cookie`), "", "scripts cannot read the session");
      await send(herald.url, "/purchase_an_axe");
      await waitFor(() => settled(page, `document.body.innerText.includes("purchase_an_axe")`), {
        what: "the event on the page",
      });
    } finally {
      await browser?.close();
      await herald.stop();
      await Deno.remove(file);
    }
  },
});

async function send(base: string, path: string, status = 200): Promise<void> {
  const res = await fetch(`${base}${path}`);
  await res.body?.cancel();
  assert.equal(res.status, status, path);
}

function rowCount(page: Browser, cls: string): Promise<number> {
  return page.evaluate<number>(`document.querySelectorAll("#rows tr.${cls}").length`);
}

async function setFilter(page: Browser, id: string, value: string): Promise<void> {
  await page.evaluate(`(() => {
    const el = document.getElementById(${JSON.stringify(id)});
    el.value = ${JSON.stringify(value)};
    el.dispatchEvent(new Event(el.tagName === "INPUT" ? "input" : "change"));
  })()`);
}

/** `expression` in the page, or false while the page is between two documents. */
function settled(page: Browser, expression: string): Promise<unknown> {
  return page.evaluate(expression).catch(() => false);
}

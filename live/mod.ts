/**
 * The live events page: `GET /live` (the page, its script and style),
 * `GET /live/stream` (server-sent events from the hub), and, when the page
 * has a key, `POST /live/login` and `/live/logout`. Every response is
 * `no-store`, carries a strict Content-Security-Policy (scripts and styles
 * only from Herald itself, nothing inline, no framing) and never CORS
 * headers, so other sites cannot read it from a visitor's browser.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { COOKIE, LiveKey } from "./auth.ts";
import type { LiveHub, Viewer } from "./hub.ts";
import { LIVE_CSS, LIVE_JS, livePage, loginPage } from "./page.ts";
import { lastEventId, viewerStream } from "./stream.ts";

export { LiveHub, Rejection, type Relay, Relayed, type Viewer } from "./hub.ts";
export { sseMessages } from "./stream.ts";
export { LiveKey, resolveLiveKey } from "./auth.ts";
export { tapFanOut, tapRejection } from "./tap.ts";

/** The largest login form read (a key of a few hundred bytes fits many times). */
const LOGIN_MAX_BYTES = 4096;

/** A hub and the key its page needs (null: no key, the page is open). */
export interface LiveSetup {
  hub: LiveHub;
  key: LiveKey | null;
}

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
  "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Whether `path` is one of the live page's (never an event path). */
export function isLivePath(path: string): boolean {
  return path === "/live" || path.startsWith("/live/");
}

/** The live page's routes over `setup`. */
export function liveRoutes(setup: LiveSetup, options: { trustProxy: boolean }): Hono {
  const live = () => setup;
  const app = new Hono();
  app.use("/live/*", headers);
  app.use("/live", headers);

  const secure = (request: Request) =>
    new URL(request.url).protocol === "https:" ||
    (options.trustProxy && request.headers.get("x-forwarded-proto") === "https");

  const allowed = async (request: Request, cookie: string | undefined) => {
    const { key } = live();
    if (key === null) return true;
    const bearer = request.headers.get("authorization")?.match(/^Bearer\s+(.+?)\s*$/i)?.[1];
    return bearer !== undefined ? await key.matches(bearer) : await key.validSession(cookie);
  };

  // Past too many wrong guesses of the key, every guess waits (429).
  const locked = (c: Context) => {
    const wait = live().key?.lockedForS() ?? 0;
    if (wait === 0) return null;
    c.header("retry-after", String(wait));
    return c.json({
      error: "rate_limited",
      message: `Too many wrong keys: try again in ${wait} s`,
    }, 429);
  };

  app.get("/live", async (c) => {
    if (!await allowed(c.req.raw, getCookie(c, COOKIE))) return c.html(loginPage(false), 401);
    return c.html(livePage(live().key !== null));
  });
  app.get("/live/app.js", (c) => c.body(LIVE_JS, 200, { "content-type": "text/javascript" }));
  app.get("/live/app.css", (c) => c.body(LIVE_CSS, 200, { "content-type": "text/css" }));

  app.post("/live/login", async (c) => {
    const { key } = live();
    if (key === null) return c.redirect("/live", 303);
    // Anyone may post here: at most LOGIN_MAX_BYTES of it are read.
    const form = await readSmallForm(c.req.raw, LOGIN_MAX_BYTES);
    if (form === null) {
      return c.json({
        error: "payload_too_large",
        message: `A login form is at most ${LOGIN_MAX_BYTES} bytes`,
      }, 413);
    }
    const presented = form.get("key") ?? "";
    if (!presented) return c.html(loginPage(true), 401);
    if (!await key.matches(presented)) return locked(c) ?? c.html(loginPage(true), 401);
    setCookie(c, COOKIE, await key.session(), {
      path: "/live",
      httpOnly: true,
      sameSite: "Strict",
      secure: secure(c.req.raw),
      maxAge: LiveKey.sessionSeconds,
    });
    return c.redirect("/live", 303);
  });
  app.post("/live/logout", (c) => {
    setCookie(c, COOKIE, "", { path: "/live", httpOnly: true, sameSite: "Strict", maxAge: 0 });
    return c.redirect("/live", 303);
  });

  app.get("/live/stream", async (c) => {
    if (!await allowed(c.req.raw, getCookie(c, COOKIE))) {
      return locked(c) ??
        c.json({ error: "unauthorized", message: "Log in at /live first" }, 401);
    }
    const { hub } = live();
    const lastSeen = lastEventId(c.req.header("last-event-id") ?? null, hub.worker?.index ?? 0);
    const viewer = hub.connect(lastSeen);
    if (viewer === null) {
      return c.json({
        error: "unavailable",
        message: `The live page has ${hub.options.max_viewers} viewers already`,
      }, 503);
    }
    return sseResponse(hub, viewer);
  });
  app.all("/live/*", (c) => c.json({ error: "not_found", message: "No such live page" }, 404));
  return app;
}

async function headers(
  c: { res: Response },
  next: () => Promise<void>,
): Promise<void> {
  await next();
  const h = c.res.headers;
  for (const name of [...h.keys()]) if (name.startsWith("access-control-")) h.delete(name);
  h.set("content-security-policy", CSP);
  h.set("x-content-type-options", "nosniff");
  h.set("referrer-policy", "no-referrer");
  h.set("cache-control", "no-store");
}

function sseResponse(hub: LiveHub, viewer: Viewer): Response {
  return new Response(viewerStream(hub, viewer), {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      // Proxies that buffer (nginx) would hold the stream back.
      "x-accel-buffering": "no",
    },
  });
}

/**
 * This worker's items for another worker that relays them to its viewer
 * (served on the control socket, never on the port): the same stream, with
 * plain sequence numbers after the request's `Last-Event-ID`.
 */
export function relayFeed(hub: LiveHub, request: Request): Response {
  const own = hub.worker?.index ?? 0;
  const lastSeen = lastEventId(request.headers.get("last-event-id"), own);
  return sseResponse(hub, hub.connect(lastSeen, { internal: true })!);
}

/**
 * A URL-encoded form of at most `max` bytes, or null when the body is longer
 * (it is read no further).
 */
async function readSmallForm(request: Request, max: number): Promise<URLSearchParams | null> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body?.getReader();
  for (;;) {
    const next = await reader?.read();
    if (!next || next.done) break;
    size += next.value.length;
    if (size > max) {
      await reader!.cancel();
      return null;
    }
    chunks.push(next.value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return new URLSearchParams(new TextDecoder().decode(bytes));
}

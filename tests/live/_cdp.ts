/**
 * A headless Chromium driven over the Chrome DevTools Protocol with Deno's
 * own WebSocket: enough to open a page, evaluate script in it and take a
 * screenshot.
 *
 * @module
 */

/** Where Debian installs Chromium (`apt-get install chromium`). */
export const CHROMIUM = "/usr/bin/chromium";

/** Why the browser tests cannot run here, or null. Under `CI=true` they always run. */
export async function chromiumMissing(): Promise<string | null> {
  if (Deno.env.get("CI") === "true") return null;
  try {
    await Deno.stat(CHROMIUM);
    return null;
  } catch {
    const reason = `${CHROMIUM} is not installed (apt-get install chromium)`;
    console.error(`Browser tests ignored: ${reason} (they run and fail in CI)`);
    return reason;
  }
}

interface Pending {
  resolve(value: Record<string, unknown>): void;
  reject(error: Error): void;
}

/** One headless browser with one page. */
export class Browser {
  readonly #child: Deno.ChildProcess;
  readonly #dir: string;
  readonly #socket: WebSocket;
  readonly #pending = new Map<number, Pending>();
  #id = 0;
  #session = "";

  private constructor(child: Deno.ChildProcess, dir: string, socket: WebSocket) {
    this.#child = child;
    this.#dir = dir;
    this.#socket = socket;
    socket.onmessage = (message) => {
      const data = JSON.parse(message.data);
      const pending = data.id === undefined ? undefined : this.#pending.get(data.id);
      if (!pending) return;
      this.#pending.delete(data.id);
      if (data.error) pending.reject(new Error(`CDP: ${JSON.stringify(data.error)}`));
      else pending.resolve(data.result);
    };
  }

  /** Starts Chromium headless with a fresh profile and opens a blank page. */
  static async launch(size = { width: 1280, height: 760 }): Promise<Browser> {
    const dir = await Deno.makeTempDir({ prefix: "herald-chromium-" });
    const args = [
      "--headless",
      "--remote-debugging-port=0",
      `--user-data-dir=${dir}`,
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-extensions",
      `--window-size=${size.width},${size.height}`,
      // Chromium's sandbox refuses to run as root (containers, CI).
      ...(Deno.uid() === 0 ? ["--no-sandbox"] : []),
      "about:blank",
    ];
    const child = new Deno.Command(CHROMIUM, { args, stdout: "null", stderr: "piped" }).spawn();
    let url: string;
    try {
      url = await devtoolsUrl(child.stderr);
    } catch (error) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw error;
    }
    const socket = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () => reject(new Error(`Cannot connect to ${url}`));
    });
    const browser = new Browser(child, dir, socket);
    const { targetId } = await browser.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await browser.send("Target.attachToTarget", {
      targetId,
      flatten: true,
    });
    browser.#session = sessionId as string;
    await browser.send("Page.enable");
    await browser.send("Runtime.enable");
    await browser.send("Emulation.setDeviceMetricsOverride", {
      ...size,
      deviceScaleFactor: 1,
      mobile: false,
    });
    return browser;
  }

  /** Sends a CDP command (to the page once attached); resolves with its result. */
  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = ++this.#id;
    const message = this.#session
      ? { id, method, params, sessionId: this.#session }
      : { id, method, params };
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#socket.send(JSON.stringify(message));
    });
  }

  /** Evaluates `expression` in the page; resolves with its value (awaiting promises). */
  async evaluate<T = unknown>(expression: string): Promise<T> {
    const result = await this.send("Runtime.evaluate", {
      expression,
      returnByValue: true,
      awaitPromise: true,
    });
    if (result.exceptionDetails) {
      throw new Error(`In the page: ${JSON.stringify(result.exceptionDetails)}`);
    }
    return (result.result as { value: T }).value;
  }

  async navigate(url: string): Promise<void> {
    await this.send("Page.navigate", { url });
  }

  /** A PNG of the page's viewport. */
  async screenshot(): Promise<Uint8Array> {
    const { data } = await this.send("Page.captureScreenshot", { format: "png" });
    return Uint8Array.from(atob(data as string), (c) => c.charCodeAt(0));
  }

  /** Kills the browser and removes its profile. */
  async close(): Promise<void> {
    try {
      this.#socket.close();
    } catch { /* closed */ }
    try {
      this.#child.kill("SIGKILL");
    } catch { /* gone */ }
    await this.#child.status;
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}

/** Reads Chromium's stderr until it prints its DevTools URL; keeps draining it afterwards. */
async function devtoolsUrl(stderr: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const timer = setTimeout(() => reader.cancel(), 30_000);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`Chromium exited before listening:\n${text}`);
      text += value;
      const match = text.match(/DevTools listening on (ws:\/\/\S+)/);
      if (match) {
        void (async () => {
          try {
            while (!(await reader.read()).done) { /* drain */ }
          } catch { /* killed */ }
        })();
        return match[1]!;
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

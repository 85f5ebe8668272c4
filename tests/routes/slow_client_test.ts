/**
 * Slow and oversized clients over raw sockets: a body trickled byte by byte,
 * chunked and understated bodies, too many or too large headers, and many
 * connections that never finish their headers.
 */
import assert from "node:assert/strict";
import { configFile, readAnswer as readUntil, sleep, startHerald } from "../_testing.ts";

const enc = new TextEncoder();

/** Reads what the server answers until it closes, a whole JSON answer arrived, or `ms` pass. */
function readAnswer(conn: Deno.Conn, ms = 30_000): Promise<string> {
  return readUntil(conn, { timeoutMs: ms, until: /\r\n\r\n\{.*\}$/s });
}

Deno.test("a body trickled byte by byte gets 408 after server.body_timeout_ms", async () => {
  const herald = await startHerald([
    "--config",
    await configFile({ server: { body_timeout_ms: 1000 } }),
  ]);
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: herald.port });
    await conn.write(enc.encode(
      "POST /join_guild HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
        "Content-Length: 40\r\n\r\n",
    ));
    const started = performance.now();
    const answer = readAnswer(conn);
    for (const byte of enc.encode('{"guild":"slow')) {
      await conn.write(new Uint8Array([byte])).catch(() => 0);
      await sleep(150); // the scenario: a client that sends one byte every 150 ms
    }
    const text = await answer;
    const elapsed = performance.now() - started;
    assert.match(text, /^HTTP\/1\.1 408 /, text);
    assert.match(text, /"error":"request_timeout","message":"Body not received within 1000 ms"/);
    // Not cut off before the timeout; a busy machine can only make this later, never earlier.
    assert.ok(elapsed >= 900, `cut off after ${elapsed} ms`);
    const ok = await fetch(`${herald.url}/purchase_a_sword`);
    assert.equal(ok.status, 200, "still serving");
    await ok.body?.cancel();
  } finally {
    assert.equal((await herald.stop()).code, 0);
  }
  assert.equal(herald.stdout().trim().split("\n").length, 1, "only the last request wrote");
});

Deno.test("chunked, understated and header-heavy requests are refused and write nothing", async () => {
  const herald = await startHerald([
    "--config",
    await configFile({ server: { max_body_bytes: 1024 } }),
  ]);
  const send = async (bytes: Uint8Array) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: herald.port });
    await conn.write(bytes).catch(() => 0);
    return await readAnswer(conn);
  };
  try {
    const big = JSON.stringify({ guild: "g".repeat(3000) });
    const chunks = big.match(/.{1,500}/g)!.map((c) => `${c.length.toString(16)}\r\n${c}\r\n`);
    const chunked = await send(enc.encode(
      "POST /join_guild HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
        `Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunks.join("")}0\r\n\r\n`,
    ));
    assert.match(chunked, /^HTTP\/1\.1 413 /, chunked);
    assert.match(chunked, /"error":"payload_too_large"/);

    // Content-Length says 12; the rest is read as a second request, which is not HTTP.
    const understated = await send(enc.encode(
      "POST /join_guild HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
        `Content-Length: 12\r\n\r\n${big}`,
    ));
    assert.match(understated, /^HTTP\/1\.1 400 /, understated);
    assert.doesNotMatch(understated, /HTTP\/1\.1 2\d\d/);

    const declared = await send(enc.encode(
      "POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
        "Content-Length: 5000\r\nConnection: close\r\n\r\n[]",
    ));
    assert.match(
      declared,
      /^HTTP\/1\.1 413 /,
      "a declared length over the limit is refused at once",
    );

    // Deno's HTTP server answers 400 past 128 headers or a header block of 64 KiB.
    const many = Array.from({ length: 130 }, (_, i) => `X-H${i}: v\r\n`).join("");
    const tooMany = await send(
      enc.encode(`GET /purchase_a_sword HTTP/1.1\r\nHost: x\r\n${many}Connection: close\r\n\r\n`),
    );
    assert.match(tooMany, /^HTTP\/1\.1 400 /, tooMany);
    const huge = await send(enc.encode(
      `GET /purchase_a_sword HTTP/1.1\r\nHost: x\r\nX-Big: ${
        "v".repeat(100_000)
      }\r\nConnection: close\r\n\r\n`,
    ));
    assert.match(huge, /^HTTP\/1\.1 400 /);
  } finally {
    assert.equal((await herald.stop()).code, 0);
  }
  assert.equal(herald.stdout(), "", "nothing was written");
});

Deno.test("connections that never finish their headers do not starve other clients", async () => {
  const herald = await startHerald();
  const slow: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 200; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: herald.port });
      await conn.write(enc.encode("GET /purchase_a_sword HTTP/1.1\r\nHost: slow\r\nX-A: "));
      slow.push(conn);
    }
    const answers = await Promise.all(
      Array.from(
        { length: 50 },
        () =>
          fetch(`${herald.url}/purchase_a_sword`, { signal: AbortSignal.timeout(60_000) }).then(
            async (r) => {
              await r.body?.cancel();
              return r.status;
            },
          ),
      ),
    );
    assert.deepEqual(new Set(answers), new Set([200]), "served while 200 connections hang");
  } finally {
    for (const conn of slow) {
      try {
        conn.close();
      } catch { /* closed by the server */ }
    }
    assert.equal((await herald.stop()).code, 0);
  }
  assert.equal(herald.stdout().trim().split("\n").length, 50);
});

/**
 * Compressed request bodies over a real socket against a Herald process:
 * gzip and deflate bodies on an action route and on /events, unknown
 * encodings, broken streams, limits on the decompressed bytes, a real gzip
 * bomb against Herald's memory, the body timeout, and signatures over the
 * compressed bytes. Every refused request is checked for writing nothing.
 */
import assert from "node:assert/strict";
import {
  type Answer,
  compress,
  configFile,
  hmacHex,
  http,
  memoryMib,
  readAnswer,
  sample,
  startHerald,
} from "../_testing.ts";

const enc = new TextEncoder();

/** `mib` MiB of zeros compressed in `format`, generated as a stream (never held whole). */
async function bomb(mib: number, format: CompressionFormat): Promise<Uint8Array> {
  const zeros = new Uint8Array(1 << 20);
  let sent = 0;
  const source = new ReadableStream<BufferSource>({
    pull(controller) {
      if (sent++ < mib) controller.enqueue(zeros);
      else controller.close();
    },
  });
  return new Uint8Array(
    await new Response(source.pipeThrough(new CompressionStream(format))).arrayBuffer(),
  );
}

/** POSTs `body` with `encoding` (and JSON or NDJSON as its type). */
function post(
  herald: { url: string },
  path: string,
  body: Uint8Array | ReadableStream<BufferSource>,
  encoding: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return http(`${herald.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", "content-encoding": encoding, ...headers },
    body: body as BodyInit,
  });
}

function assertError(answer: Answer, status: number, error: string, message: RegExp): void {
  assert.equal(answer.status, status, answer.text);
  const body = JSON.parse(answer.text);
  assert.equal(body.error, error, answer.text);
  assert.match(body.message, message);
}

function events(herald: { stdout(): string }): Record<string, unknown>[] {
  return herald.stdout().trim().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
}

Deno.test("gzip, x-gzip and deflate bodies are accepted on an action route and on /events", async () => {
  const herald = await startHerald();
  const guilds = new Map<string, unknown>();
  try {
    for (
      const [encoding, format] of [["gzip", "gzip"], ["x-gzip", "gzip"], [
        "deflate",
        "deflate",
      ], ["GZip", "gzip"]] as const
    ) {
      const guild = `guild-${encoding}`;
      const body = await compress(JSON.stringify({ guild }), format);
      const answer = await post(herald, "/join_guild", body, encoding);
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.text, "Guild Joined!\n");
      guilds.set(answer.headers.get("x-request-id")!, guild);
    }
    const identity = await post(herald, "/join_guild", enc.encode('{"guild":"plain"}'), "identity");
    assert.equal(identity.status, 200, identity.text);
    guilds.set(identity.headers.get("x-request-id")!, "plain");
    const empty = await post(herald, "/join_guild", new Uint8Array(0), "gzip");
    assert.equal(empty.status, 200, "an empty body is no fields, whatever its encoding");
    guilds.set(empty.headers.get("x-request-id")!, "adventurers");

    const ndjson =
      '{"action":"join_guild","guild":"nd-1"}\n{"action":"join_guild","guild":"nd-2"}\n';
    const batchGzip = await post(herald, "/events", await compress(ndjson, "gzip"), "gzip", {
      "content-type": "application/x-ndjson",
    });
    assert.equal(batchGzip.status, 200, batchGzip.text);
    assert.equal(JSON.parse(batchGzip.text).accepted, 2);
    const array = JSON.stringify([
      { action: "declare_a_war", target: "orcs" },
      { action: "join_guild", guild: "arr-1" },
    ]);
    const batchDeflate = await post(herald, "/events", await compress(array, "deflate"), "deflate");
    assert.equal(batchDeflate.status, 200, batchDeflate.text);
    assert.equal(JSON.parse(batchDeflate.text).accepted, 2);
  } finally {
    assert.equal((await herald.stop()).code, 0, herald.stderr());
  }
  const all = events(herald);
  assert.equal(all.length, 10);
  for (const [requestId, guild] of guilds) {
    const [event] = all.filter((e) => e.request_id === requestId);
    assert.equal(event?.guild, guild, `request ${requestId}`);
    assert.equal(event?.action, "join_guild");
  }
  assert.deepEqual(
    all.filter((e) => !guilds.has(e.request_id as string)).map((e) => e.guild ?? e.target),
    ["nd-1", "nd-2", "orcs", "arr-1"],
  );
});

Deno.test("unknown encodings get 415, broken streams 400, and limits hold on decompressed bytes", async () => {
  const herald = await startHerald();
  let good: string | null = null;
  try {
    const json = JSON.stringify({ guild: "knights" });
    const gzip = await compress(json, "gzip");
    // 1. Encodings Herald does not decode, lists of two included: 415 naming the header.
    for (const encoding of ["br", "zstd", "compress", "gzip, gzip", "gzip, identity", ""]) {
      for (const path of ["/join_guild", "/events"]) {
        const answer = await post(herald, path, gzip, encoding);
        assertError(
          answer,
          415,
          "unsupported_media_type",
          /^Content-Encoding ".*" is not supported: use gzip, x-gzip, deflate, identity or none$/,
        );
        assert.equal(answer.headers.get("accept-encoding"), "gzip, x-gzip, deflate");
      }
    }

    // 2. Corrupt, truncated and over-long streams: 400 naming the problem.
    const flipped = gzip.slice();
    flipped[12] = flipped[12]! ^ 0xff;
    const deflate = await compress(json, "deflate");
    const broken: [string, Uint8Array, RegExp][] = [
      ["gzip", flipped, /^Body is not valid gzip: /],
      ["gzip", gzip.subarray(0, gzip.length - 6), /^Body is not valid gzip: .*truncated/],
      ["gzip", enc.encode(json), /^Body is not valid gzip: invalid gzip header/],
      ["gzip", new Uint8Array([...gzip, ...gzip]), /data follows the end of the stream/],
      ["deflate", deflate.subarray(0, deflate.length - 4), /^Body is not valid deflate: .*trunc/],
      ["deflate", deflate.subarray(0, 8), /^Body is not valid deflate: .*truncated/],
      ["deflate", gzip, /^Body is not valid deflate: corrupt deflate stream/],
    ];
    for (const [encoding, body, message] of broken) {
      assertError(await post(herald, "/join_guild", body, encoding), 400, "bad_request", message);
    }

    // 3. max_event_bytes and max_json_depth apply to what the body decompresses to.
    const large = JSON.stringify({ guild: "x".repeat(9000) });
    assertError(
      await post(herald, "/join_guild", await compress(large, "gzip"), "gzip"),
      413,
      "event_too_large",
      /Body exceeds 8192 bytes/,
    );
    const items = `[${large.replace("{", '{"action":"join_guild",')},{"action":"join_guild"}]`;
    const batch = await post(herald, "/events", await compress(items, "deflate"), "deflate");
    assert.equal(batch.status, 207, batch.text);
    const results = JSON.parse(batch.text).results;
    assert.equal(results[0].status, "rejected");
    assert.match(results[0].error, /over the limit of 8192/);
    assert.equal(results[1].status, "accepted");
    good = batch.headers.get("x-request-id");
    assertError(
      await post(herald, "/events", await compress("[".repeat(50), "gzip"), "gzip"),
      400,
      "bad_request",
      /deeper than 8 levels/,
    );

    // 4. They are counted like any other answer, by status.
    const metrics = (await http(`${herald.url}/metrics`)).text;
    assert.equal(
      sample(metrics, "herald_http_requests_total", { action: "join_guild", status: "415" }),
      6,
    );
    assert.equal(
      sample(metrics, "herald_http_requests_total", { action: "_batch", status: "415" }),
      6,
    );
    assert.equal(
      sample(metrics, "herald_http_requests_total", { action: "join_guild", status: "400" }),
      broken.length,
    );
    const still = await http(`${herald.url}/purchase_a_sword`);
    assert.equal(still.status, 200, "still serving");
  } finally {
    assert.equal((await herald.stop()).code, 0, herald.stderr());
  }
  assert.deepEqual(
    events(herald).map((e) => [e.action, e.request_id === good]),
    [["join_guild", true], ["purchase_a_sword", false]],
    "only the valid batch item and the last GET were written",
  );
});

Deno.test("a gzip bomb gets 413 after about max_body_bytes of work, and memory stays flat", async () => {
  const limit = 2 * 1024 * 1024;
  const herald = await startHerald([
    "--config",
    await configFile({ server: { max_body_bytes: limit } }),
  ]);
  try {
    // 1 GiB of zeros is about 1 MiB of gzip: under the limit as sent, 512 times over it inflated.
    const gzipBomb = await bomb(1024, "gzip");
    const deflateBomb = await bomb(512, "deflate");
    assert.ok(gzipBomb.length < limit, `the bomb is ${gzipBomb.length} bytes as sent`);
    // Warm up the decompression path, so what follows measures only the bombs.
    const warm = await post(
      herald,
      "/join_guild",
      await compress('{"guild":"warm"}', "gzip"),
      "gzip",
    );
    assert.equal(warm.status, 200, warm.text);
    const before = memoryMib(herald.pid);
    for (
      const [path, body, encoding] of [
        ["/events", gzipBomb, "gzip"],
        ["/join_guild", gzipBomb, "x-gzip"],
        ["/events", deflateBomb, "deflate"],
        ["/join_guild", gzipBomb, "gzip"],
      ] as const
    ) {
      const answer = await post(herald, path, body, encoding);
      assertError(
        answer,
        413,
        "payload_too_large",
        new RegExp(`^Body exceeds ${limit} bytes once decompressed`),
      );
      assert.equal(answer.headers.get("connection"), "close");
    }
    const after = memoryMib(herald.pid);
    console.error(
      `RSS ${before.rss.toFixed(0)} -> ${after.rss.toFixed(0)} MiB, ` +
        `peak ${before.peak.toFixed(0)} -> ${after.peak.toFixed(0)} MiB`,
    );
    assert.ok(after.rss - before.rss < 64, `RSS grew from ${before.rss} to ${after.rss} MiB`);
    assert.ok(after.peak - before.peak < 64, `peak grew from ${before.peak} to ${after.peak} MiB`);

    // The limit bounds the compressed bytes too: a chunked body past it is cut off as it arrives.
    let chunks = 0;
    const endless = new ReadableStream<BufferSource>({
      pull(controller) {
        if (chunks++ < 64) controller.enqueue(crypto.getRandomValues(new Uint8Array(65536)));
        else controller.close();
      },
    });
    assertError(
      await post(herald, "/events", endless, "gzip"),
      413,
      "payload_too_large",
      new RegExp(`^Body exceeds ${limit} bytes$`),
    );
    const still = await http(`${herald.url}/healthz`);
    assert.equal(still.status, 200, "still serving");
  } finally {
    assert.equal((await herald.stop()).code, 0, herald.stderr());
  }
  assert.deepEqual(events(herald).map((e) => e.guild), ["warm"], "no bomb was written");
});

Deno.test("a compressed body not received within server.body_timeout_ms gets 408", async () => {
  const herald = await startHerald([
    "--config",
    await configFile({ server: { body_timeout_ms: 1000 } }),
  ]);
  try {
    const body = await compress(JSON.stringify({ guild: "slow" }), "gzip");
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: herald.port });
    const started = performance.now();
    await conn.write(
      new Uint8Array([
        ...enc.encode(
          "POST /join_guild HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
            `Content-Encoding: gzip\r\nContent-Length: ${body.length}\r\n\r\n`,
        ),
        ...body.subarray(0, 10), // the rest never comes
      ]),
    );
    const text = await readAnswer(conn, { until: /\r\n\r\n\{.*\}$/s });
    const elapsed = performance.now() - started;
    assert.match(text, /^HTTP\/1\.1 408 /, text);
    assert.match(text, /"error":"request_timeout","message":"Body not received within 1000 ms"/);
    assert.ok(elapsed >= 900, `cut off after ${elapsed} ms`);
  } finally {
    assert.equal((await herald.stop()).code, 0, herald.stderr());
  }
  assert.equal(herald.stdout(), "", "nothing was written");
});

Deno.test("a signed compressed body is verified over the bytes as sent, before decompressing", async () => {
  const key = `backend-${crypto.randomUUID()}`;
  const herald = await startHerald([
    "--config",
    await configFile({
      auth: { write_keys: [{ name: "backend", value_env: "HERALD_KEY_BACKEND", hmac: true }] },
    }),
  ], { env: { HERALD_KEY_BACKEND: key } });
  const signed = async (body: Uint8Array, encoding: string, signedBytes = body) => {
    const stamp = String(Math.floor(Date.now() / 1000));
    const signature = await hmacHex(
      key,
      new Uint8Array([...enc.encode(`${stamp}.`), ...signedBytes]),
    );
    return await post(herald, "/events", body, encoding, {
      "x-write-key": key,
      "x-herald-timestamp": stamp,
      "x-herald-signature": `sha256=${signature}`,
    });
  };
  let good: string | null = null;
  try {
    const json = JSON.stringify([{ action: "declare_peace" }]);
    const gzip = await compress(json, "gzip");
    const ok = await signed(gzip, "gzip");
    assert.equal(ok.status, 200, ok.text);
    good = ok.headers.get("x-request-id");
    const overText = await signed(gzip, "gzip", enc.encode(json));
    assertError(overText, 401, "unauthorized", /^Invalid signature$/);

    // A bad signature is refused before the body is decompressed: 401, not 413.
    const small = await bomb(32, "gzip"); // under the 64 KiB limit as sent
    assertError(await signed(small, "gzip", gzip), 401, "unauthorized", /^Invalid signature$/);
    assertError(await signed(small, "gzip"), 413, "payload_too_large", /once decompressed/);
    assertError(await signed(gzip, "br"), 415, "unsupported_media_type", /"br"/);
  } finally {
    assert.equal((await herald.stop()).code, 0, herald.stderr());
  }
  assert.deepEqual(
    events(herald).map((e) => [e.request_id === good, e.source]),
    [[true, "backend"]],
  );
});

/**
 * Throws a few thousand malformed requests at a running Herald over real
 * sockets: random bytes, broken framing, odd methods and paths, broken JSON,
 * huge numbers, deep nesting, wrong content types, and compressed bodies
 * (bombs, broken streams, unknown encodings). Herald must never
 * answer 5xx, must keep serving, and its memory must stay flat.
 */
import assert from "node:assert/strict";
import { compress, memoryMib, rawHttp, seededRandom, startHerald } from "../_testing.ts";

const SEED = Number(Deno.env.get("HERALD_FUZZ_SEED") ?? 20261123);
const random = seededRandom(SEED);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
const enc = new TextEncoder();

const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "FOO", "get"];
const PATHS = [
  "/purchase_a_sword",
  "/join_guild",
  "/events",
  "/",
  "/readyz",
  "/../../etc/passwd",
  "/purchase_a_sword/../events",
  "/%00",
  "/%ff%fe",
  "/purchase_a_sword?strength=1e309",
  "/purchase_a_sword?strength=99999999999999999999999",
  "/purchase_a_sword?strength=-0&strength=1",
  "/purchase_a_sword?sword_type[]=long",
  "/purchase_a_sword?__proto__[x]=1",
  "/purchase_a_sword?constructor=1",
  "/j%C3%B6in_guild",
  "/" + "a".repeat(4000),
  "/purchase_a_sword?" + "x=1&".repeat(500),
];
const TYPES = [
  "application/json",
  "application/x-ndjson",
  "text/plain",
  "application/json; charset=latin1",
  "multipart/form-data; boundary=x",
  "",
];
const BODIES: (() => Uint8Array)[] = [
  () => enc.encode("{"),
  () => enc.encode('{"guild":'),
  () => enc.encode('{"guild":"knights"'),
  () => enc.encode('{"strength": 1e999999}'),
  () => enc.encode('{"strength": 123456789012345678901234567890}'),
  () => enc.encode('{"__proto__": {"polluted": true}, "guild": "x"}'),
  () => enc.encode('{"constructor": {"prototype": {"polluted": true}}}'),
  () => enc.encode('[{"action":"join_guild","guild":"a"},{"action":'),
  () => enc.encode('[{"action":"purchase_a_sword","strength":"NaN"}, 5, null, "x", []]'),
  () => enc.encode("{}\n{\n[]\nnull\n" + '{"action":"join_guild","guild":"\\ud800"}'),
  () => enc.encode("[".repeat(5000)),
  () => enc.encode('{"a":'.repeat(3000)),
  () => enc.encode(JSON.stringify({ guild: "x".repeat(70_000) })),
  () => bytes(Math.floor(random() * 2000)),
  () => new Uint8Array([0xef, 0xbb, 0xbf, ...enc.encode('{"guild":"bom"}')]),
  () => new Uint8Array(0),
];

const zeros = new Uint8Array(32 << 20);
const join = enc.encode('{"guild":"zipped"}');
/** Compressed bodies and the encodings they are sent with: bombs, broken streams, wrong names. */
const COMPRESSED: [string, Uint8Array][] = [
  ["gzip", await compress(join, "gzip")],
  ["deflate", await compress(join, "deflate")],
  ["gzip", await compress(zeros, "gzip")], // 32 MiB of zeros in about 32 KiB
  ["deflate", await compress(zeros, "deflate")],
  ["gzip", (await compress(join, "gzip")).subarray(0, 20)],
  ["deflate", (await compress(join, "deflate")).subarray(0, 9)],
  ["deflate", await compress(join, "gzip")],
  ["br", await compress(join, "gzip")],
  ["gzip, gzip", await compress(await compress(join, "gzip"), "gzip")],
];

/** One malformed request as raw bytes. */
function request(): Uint8Array {
  const kind = random();
  if (kind < 0.3 && kind >= 0.2) {
    const [encoding, body] = pick(COMPRESSED);
    const head = `POST ${pick(["/join_guild", "/events"])} HTTP/1.1\r\nHost: f\r\n` +
      `Content-Type: application/json\r\nContent-Encoding: ${encoding}\r\n` +
      `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    return new Uint8Array([...enc.encode(head), ...body]);
  }
  if (kind < 0.1) return bytes(1 + Math.floor(random() * 512)); // not HTTP at all
  if (kind < 0.15) {
    // Broken framing: a Content-Length that lies, or chunked garbage.
    const body = enc.encode('{"guild":"k"}');
    const lie = pick([0, 3, body.length + 50]);
    return enc.encode(
      `POST /join_guild HTTP/1.1\r\nHost: f\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${lie}\r\n\r\n{"guild":"k"}`,
    );
  }
  if (kind < 0.2) {
    return enc.encode(
      "POST /events HTTP/1.1\r\nHost: f\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n0\r\n\r\n",
    );
  }
  const method = pick(METHODS);
  const body = BODIES[Math.floor(random() * BODIES.length)]!();
  const type = pick(TYPES);
  const head = `${method} ${pick(PATHS)} HTTP/1.1\r\nHost: fuzz${Math.floor(random() * 100)}\r\n` +
    (type ? `Content-Type: ${type}\r\n` : "") +
    (random() < 0.1 ? `X-Junk: ${"y".repeat(2000)}\r\n` : "") +
    `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
  return new Uint8Array([...enc.encode(head), ...body]);
}

/** Sends raw bytes; returns the status line's code, or null if the server just closed. */
async function send(port: number, data: Uint8Array): Promise<number | null> {
  const answer = await rawHttp(port, data, { until: /^HTTP\/1\.[01] \d{3}/ });
  const m = answer.match(/^HTTP\/1\.[01] (\d{3})/);
  return m ? Number(m[1]) : null;
}

Deno.test(`serve survives ${3000} malformed requests (seed ${SEED}) without a 5xx`, async () => {
  const herald = await startHerald(["--sinks", "stdout,parquet"]);
  const statuses = new Map<string, number>();
  const fivexx: string[] = [];
  const round = async (n: number) => {
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next++ < n) {
        const data = request();
        const status = await send(herald.port, data);
        const key = status === null ? "closed" : String(status);
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
        if (status !== null && status >= 500) {
          fivexx.push(new TextDecoder().decode(data.subarray(0, 200)));
        }
      }
    }));
  };
  try {
    await round(1000); // warm-up: JIT, buffers, the first Parquet writes
    const before = memoryMib(herald.child.pid).rss;
    await round(2000);
    const after = memoryMib(herald.child.pid).rss;
    console.error(
      `fuzz statuses: ${JSON.stringify(Object.fromEntries(statuses))}; ` +
        `RSS ${before.toFixed(0)} -> ${after.toFixed(0)} MB`,
    );
    assert.deepEqual(fivexx, [], "no request got a 5xx");
    assert.ok((statuses.get("400") ?? 0) > 500, "most requests were refused as bad");
    assert.ok(after - before < 40, `RSS grew from ${before} to ${after} MB`);
    const health = await fetch(`${herald.url}/healthz`);
    assert.equal(health.status, 200, "still serving");
    await health.body?.cancel();
    const ok = await fetch(`${herald.url}/purchase_a_sword`);
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
  } finally {
    const status = await herald.stop();
    assert.equal(status.code, 0, herald.stderr().slice(-2000));
  }
  const errors = herald.stderr().split("\n").filter((l) => l.includes('"level":50'));
  assert.deepEqual(errors, [], "no error was logged");
  assert.ok(!("polluted" in {}), "no prototype was polluted");
});

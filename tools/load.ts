/**
 * `deno task load`: generated game traffic for a running Herald, driven by its
 * own config. Each request calls one action of a weighted mix with valid random
 * values for the action's request fields, on behalf of one of a set of fake
 * users that each send their own `Host` header, as the seeds did with
 * `ab -n 500 -H "Host: knight1.comcast.com" http://localhost:5000/purchase_a_sword`.
 *
 * The HTTP/1.1 client is built on `Deno.connect`: `fetch` cannot set `Host`, and
 * a lean client is what lets one machine measure a server that shares its
 * cores. Each worker keeps one persistent connection (keep-alive, one request
 * at a time) and reconnects when the server closes it.
 *
 * - Closed loop (the default): `concurrency` workers, each sending its next
 *   request as soon as the previous one is answered.
 * - Open loop (`rate`): requests are scheduled at fixed intervals and latency is
 *   measured from the scheduled time, so a request that waits for a free
 *   connection has that wait in its latency (no coordinated omission).
 * - Batches (`batch`): `POST /events` with that many events per request, as
 *   NDJSON or a JSON array; per-item rejections are counted from the answer.
 *
 * ```sh
 * deno task load --mix purchase_a_sword=5,join_guild=2 --users 100 --duration 30s
 * deno task load --rate 2000 --duration 1m --json
 * deno task load --batch 100 --requests 1000
 * ```
 *
 * As a library:
 *
 * ```ts
 * import { formatSummary, runLoad } from "../tools/load.ts";
 *
 * const summary = await runLoad({
 *   url: "http://127.0.0.1:5000",
 *   config: "config/gateway.yaml",
 *   mix: { purchase_a_sword: 5, join_guild: 2 },
 *   concurrency: 50,
 *   durationMs: 10_000,
 * });
 * console.log(formatSummary(summary));
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { FieldSpec } from "../config/fields.ts";
import { type ActionConfig, type GatewayConfig, loadConfig } from "../config/mod.ts";
import { SINKS } from "../sinks/mod.ts";

/** The config file read when none is given. */
export const DEFAULT_CONFIG = "config/gateway.yaml";
/** The target when none is given. */
export const DEFAULT_URL = "http://127.0.0.1:5000";
/** How long a run lasts when neither a request count nor a duration is given. */
export const DEFAULT_DURATION_MS = 10_000;

/** An option, config or target that cannot be used; the CLI exits 1 on it. */
export class LoadError extends Error {
  override name = "LoadError";
}

// ---------------------------------------------------------------------------
// Flags and mixes

const DURATION = /^(\d+(?:\.\d*)?|\.\d+)(ms|s|m)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };

/**
 * Parses a duration such as `500ms`, `30s`, `1.5m` or `30` (seconds) into
 * milliseconds. Throws {@linkcode LoadError} on anything else.
 */
export function parseDuration(text: string): number {
  const match = DURATION.exec(text.trim());
  if (!match) {
    throw new LoadError(
      `Invalid duration "${text}": use a number with ms, s or m, such as 500ms, 30s or 2m`,
    );
  }
  return Number(match[1]) * UNIT_MS[match[2] ?? "s"]!;
}

/** One action of a mix and its relative weight. */
export interface MixEntry {
  action: ActionConfig;
  weight: number;
}

/**
 * Resolves a mix of actions: text such as `"purchase_a_sword=5,join_guild=2"`
 * (a bare name weighs 1) or an object of weights. Absent or empty means every
 * action at weight 1. Actions given weight 0 are left out. Throws
 * {@linkcode LoadError} on an unknown or repeated action and on a bad weight.
 */
export function parseMix(
  mix: string | Readonly<Record<string, number>> | undefined,
  actions: readonly ActionConfig[],
): MixEntry[] {
  if (mix === undefined || (typeof mix === "string" && mix.trim() === "")) {
    return actions.map((action) => ({ action, weight: 1 }));
  }
  const pairs: [string, string | number][] = typeof mix === "string"
    ? mix.split(",").map((s) => s.trim()).filter(Boolean).map((part) => {
      const eq = part.indexOf("=");
      return eq < 0 ? [part, 1] : [part.slice(0, eq).trim(), part.slice(eq + 1).trim()];
    })
    : Object.entries(mix);
  const known = new Map(actions.map((a) => [a.name, a]));
  const seen = new Set<string>();
  const entries: MixEntry[] = [];
  for (const [name, raw] of pairs) {
    const action = known.get(name);
    if (!action) {
      const names = [...known.keys()].map((n) => `"${n}"`).join(", ");
      throw new LoadError(`Unknown action "${name}" in the mix (expected one of ${names})`);
    }
    if (seen.has(name)) throw new LoadError(`Action "${name}" is given twice in the mix`);
    seen.add(name);
    const weight = typeof raw === "number"
      ? raw
      : /^(\d+(\.\d*)?|\.\d+)$/.test(raw)
      ? Number(raw)
      : NaN;
    if (!Number.isFinite(weight) || weight < 0) {
      throw new LoadError(
        `Invalid weight "${raw}" for action "${name}": expected a number of at least 0`,
      );
    }
    if (weight > 0) entries.push({ action, weight });
  }
  if (entries.length === 0) throw new LoadError("The mix gives no action a weight above 0");
  return entries;
}

const USER_NAMES = ["user", "knight", "mage", "archer", "rogue"];
const USER_DOMAINS = ["comcast.com", "yahoo.com", "gmail.com", "verizon.net"];

/**
 * The `Host` header of each of `n` fake users, all different:
 * `user1.comcast.com`, `knight1.yahoo.com`, `mage1.gmail.com`, ...
 */
export function userHosts(n: number): string[] {
  return Array.from(
    { length: n },
    (_, i) =>
      `${USER_NAMES[i % USER_NAMES.length]}${Math.floor(i / USER_NAMES.length) + 1}.${
        USER_DOMAINS[i % USER_DOMAINS.length]
      }`,
  );
}

// ---------------------------------------------------------------------------
// Field values

/** How often an optional field is left out, so that its default is used. */
export const OMIT_PROBABILITY = 0.5;
const DEFAULT_MIN = 0;
const DEFAULT_MAX = 100;
const MAX_STRING_LENGTH = 32;
const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

interface FieldGenerator {
  name: string;
  optional: boolean;
  /** The value as JSON text. */
  json(random: () => number): string;
  /** The value as query-string text, already encoded. */
  text(random: () => number): string;
}

function numericRange(spec: FieldSpec): [number, number] {
  const lo = spec.min ??
    (spec.max !== undefined && spec.max < DEFAULT_MIN ? spec.max - DEFAULT_MAX : DEFAULT_MIN);
  const hi = spec.max ?? (lo > DEFAULT_MAX ? lo + DEFAULT_MAX : DEFAULT_MAX);
  return [lo, hi];
}

function fieldGenerator(spec: FieldSpec): FieldGenerator {
  const base = { name: spec.name, optional: !spec.required };
  switch (spec.type) {
    case "enum": {
      const values = spec.values ?? [];
      const json = values.map((v) => JSON.stringify(v));
      const text = values.map((v) => encodeURIComponent(v));
      const at = (random: () => number) => Math.floor(random() * values.length);
      return { ...base, json: (r) => json[at(r)]!, text: (r) => text[at(r)]! };
    }
    case "string": {
      const longest = Math.min(spec.maxLength ?? MAX_STRING_LENGTH, MAX_STRING_LENGTH);
      const draw = (random: () => number) => {
        let s = "";
        for (let n = 1 + Math.floor(random() * longest); n > 0; n--) {
          s += ALPHABET[Math.floor(random() * ALPHABET.length)];
        }
        return s;
      };
      return { ...base, json: (r) => `"${draw(r)}"`, text: draw };
    }
    case "int": {
      const [lo, hi] = numericRange(spec);
      const min = Math.max(Math.ceil(lo), Number.MIN_SAFE_INTEGER);
      const max = Math.min(Math.floor(hi), Number.MAX_SAFE_INTEGER);
      const draw = (random: () => number) =>
        String(Math.min(max, min + Math.floor(random() * (max - min + 1))));
      return { ...base, json: draw, text: draw };
    }
    case "float": {
      const [lo, hi] = numericRange(spec);
      const draw = (random: () => number) => String(lo + random() * (hi - lo));
      return { ...base, json: draw, text: (r) => encodeURIComponent(draw(r)) };
    }
    case "bool": {
      const draw = (random: () => number) => (random() < 0.5 ? "true" : "false");
      return { ...base, json: draw, text: draw };
    }
    case "timestamp": {
      const draw = () => new Date().toISOString();
      return { ...base, json: () => `"${draw()}"`, text: draw };
    }
  }
}

/**
 * Draws valid random input for one action: every request field (never the
 * constant or generated ones, which the server rejects), each optional one left
 * out with probability {@linkcode OMIT_PROBABILITY}. Enums take one of their
 * values, ints and floats stay within `min`/`max` (0 to 100 by default), strings
 * are 1 to 32 characters of `a-z0-9` within `max_length`, timestamps are now.
 */
export class ActionGenerator {
  /** The action the input is for. */
  readonly action: ActionConfig;
  readonly #fields: FieldGenerator[];
  readonly #itemPrefix: string;

  constructor(action: ActionConfig) {
    this.action = action;
    this.#fields = action.fields.filter((f) => f.source === "request").map(fieldGenerator);
    this.#itemPrefix = `{"action":${JSON.stringify(action.name)}`;
  }

  /** A query string for `GET` (without `?`; empty when no field is sent). */
  query(random: () => number = Math.random): string {
    let out = "";
    for (const field of this.#fields) {
      if (field.optional && random() < OMIT_PROBABILITY) continue;
      out += `${out === "" ? "" : "&"}${field.name}=${field.text(random)}`;
    }
    return out;
  }

  /** One batch item as JSON text: `{"action": name, ...fields}`. */
  item(random: () => number = Math.random): string {
    let out = this.#itemPrefix;
    for (const field of this.#fields) {
      if (field.optional && random() < OMIT_PROBABILITY) continue;
      out += `,"${field.name}":${field.json(random)}`;
    }
    return `${out}}`;
  }
}

// ---------------------------------------------------------------------------
// Latency

const SUB_BUCKETS = 1024;
const LINEAR_BUCKETS = 2 * SUB_BUCKETS;
const BUCKETS = LINEAR_BUCKETS + 20 * SUB_BUCKETS;
const MAX_MICROS = 2 ** 31 - 1;
/** The bucket of values above `MAX_MICROS` (about 35 minutes). */
const OVERFLOW = BUCKETS;

function bucketOf(ms: number): number {
  const us = Math.max(0, Math.round(ms * 1000));
  if (us < LINEAR_BUCKETS) return us;
  if (us > MAX_MICROS) return OVERFLOW;
  const shift = 21 - Math.clz32(us);
  return LINEAR_BUCKETS + (shift - 1) * SUB_BUCKETS + ((us >>> shift) - SUB_BUCKETS);
}

function bucketValue(index: number): number {
  if (index < LINEAR_BUCKETS) return index / 1000;
  const shift = ((index - LINEAR_BUCKETS) >> 10) + 1;
  const sub = ((index - LINEAR_BUCKETS) & (SUB_BUCKETS - 1)) + SUB_BUCKETS;
  return (sub * 2 ** shift + (2 ** shift - 1) / 2) / 1000;
}

/**
 * The nearest-rank `p`th percentile (0 to 100) of values sorted ascending;
 * `NaN` when there are none.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/**
 * Latencies in milliseconds. Percentiles are exact while at most `exactLimit`
 * values were recorded (they are kept); past that they come from a log-linear
 * histogram of microseconds with 0.1% precision, so memory stays bounded.
 */
export class LatencyRecorder {
  readonly #exactLimit: number;
  readonly #buckets = new Float64Array(BUCKETS + 1);
  #samples: Float64Array;
  #count = 0;
  #sorted = 0;
  #max = NaN;

  constructor(exactLimit = 2_000_000) {
    this.#exactLimit = exactLimit;
    this.#samples = new Float64Array(Math.min(exactLimit, 65_536));
  }

  /** How many values were recorded. */
  get count(): number {
    return this.#count;
  }

  /** The largest value; `NaN` when there is none. */
  get max(): number {
    return this.#max;
  }

  /** Records one latency in milliseconds. */
  record(ms: number): void {
    const n = this.#count;
    if (n < this.#exactLimit) {
      if (n === this.#samples.length) {
        const grown = new Float64Array(Math.min(this.#exactLimit, n * 2));
        grown.set(this.#samples);
        this.#samples = grown;
      }
      this.#samples[n] = ms;
    }
    this.#count = n + 1;
    if (!(ms <= this.#max)) this.#max = ms;
    const b = bucketOf(ms);
    this.#buckets[b] = this.#buckets[b]! + 1;
  }

  /** The `p`th percentile (0 to 100), nearest rank; `NaN` when empty. */
  percentile(p: number): number {
    const n = this.#count;
    if (n === 0) return NaN;
    if (n <= this.#exactLimit) {
      const samples = this.#samples.subarray(0, n);
      if (this.#sorted !== n) {
        samples.sort();
        this.#sorted = n;
      }
      return percentile(samples, p);
    }
    const rank = Math.min(n, Math.max(1, Math.ceil((p / 100) * n)));
    let seen = 0;
    for (let i = 0; i < OVERFLOW; i++) {
      seen += this.#buckets[i]!;
      if (seen >= rank) return Math.min(bucketValue(i), this.#max);
    }
    return this.#max;
  }
}

// ---------------------------------------------------------------------------
// HTTP/1.1 client

const CR = 13;
const LF = 10;
const MAX_BUFFER = 64 * 1024 * 1024;
const latin1 = new TextDecoder("latin1");

function lowerBytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}
const CONTENT_LENGTH = lowerBytes("content-length");
const TRANSFER_ENCODING = lowerBytes("transfer-encoding");
const CONNECTION = lowerBytes("connection");

function nameIs(buf: Uint8Array, at: number, length: number, name: Uint8Array): boolean {
  if (length !== name.length) return false;
  for (let i = 0; i < length; i++) if ((buf[at + i]! | 0x20) !== name[i]) return false;
  return true;
}

class ProtocolError extends Error {
  override name = "BadResponse";
}
class ClosedError extends Error {
  override name = "ConnectionClosed";
}
class TimeoutError extends Error {
  override name = "Timeout";
}

/**
 * One keep-alive HTTP/1.1 connection, one request at a time. It reconnects
 * when needed and retries once when a reused connection turns out to be closed
 * before any byte of the answer arrived.
 */
class HttpClient {
  readonly #hostname: string;
  readonly #port: number;
  #conn: Deno.TcpConn | null = null;
  #buf = new Uint8Array(16 * 1024);
  #start = 0;
  #end = 0;
  #served = 0;
  #received = 0;
  #timedOut = false;
  readonly #decoder = new TextDecoder();
  /** The body of the last answer, when it was asked for. */
  body = "";

  constructor(hostname: string, port: number) {
    this.#hostname = hostname;
    this.#port = port;
  }

  async connect(): Promise<void> {
    const conn = await Deno.connect({ hostname: this.#hostname, port: this.#port });
    conn.setNoDelay(true);
    this.#conn = conn;
    this.#start = this.#end = this.#served = 0;
  }

  close(): void {
    const conn = this.#conn;
    this.#conn = null;
    try {
      conn?.close();
    } catch { /* already closed */ }
  }

  /** Drops the connection of a request that takes too long. */
  abort(): void {
    this.#timedOut = true;
    this.close();
  }

  /** Sends `request` (complete HTTP/1.1 bytes) and returns the answer's status. */
  async send(request: Uint8Array, wantBody: boolean): Promise<number> {
    this.#timedOut = false;
    for (let attempt = 0;; attempt++) {
      if (this.#conn === null) await this.connect();
      const reused = this.#served > 0;
      this.#received = 0;
      try {
        const conn = this.#conn!;
        for (let done = 0; done < request.length;) {
          done += await conn.write(done === 0 ? request : request.subarray(done));
        }
        const status = await this.#readResponse(wantBody);
        this.#served++;
        return status;
      } catch (error) {
        this.close();
        if (this.#timedOut) throw new TimeoutError("No answer in time");
        if (!(reused && this.#received === 0 && attempt === 0)) throw error;
      }
    }
  }

  /** Reads more bytes; false at end of stream. */
  async #fill(): Promise<boolean> {
    if (this.#end === this.#buf.length) {
      if (this.#start > 0) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      } else {
        if (this.#buf.length >= MAX_BUFFER) throw new ProtocolError("Answer too large");
        const grown = new Uint8Array(this.#buf.length * 2);
        grown.set(this.#buf);
        this.#buf = grown;
      }
    }
    const conn = this.#conn;
    if (conn === null) throw new ClosedError("Connection closed");
    const n = await conn.read(this.#buf.subarray(this.#end));
    if (n === null) return false;
    this.#end += n;
    this.#received += n;
    return true;
  }

  async #more(): Promise<void> {
    if (!(await this.#fill())) throw new ClosedError("Connection closed before the answer ended");
  }

  async #readResponse(wantBody: boolean): Promise<number> {
    for (;;) {
      // Head: up to the blank line.
      let scanned = 0;
      let headEnd = -1;
      for (;;) {
        const buf = this.#buf;
        let i = buf.indexOf(CR, this.#start + scanned);
        while (i >= 0 && i + 3 < this.#end) {
          if (buf[i + 1] === LF && buf[i + 2] === CR && buf[i + 3] === LF) break;
          i = buf.indexOf(CR, i + 1);
        }
        if (i >= 0 && i + 3 < this.#end) {
          headEnd = i + 4;
          break;
        }
        scanned = Math.max(0, this.#end - this.#start - 3);
        await this.#more();
      }
      const buf = this.#buf;
      const s = this.#start;
      const d0 = buf[s + 9]! - 48;
      const d1 = buf[s + 10]! - 48;
      const d2 = buf[s + 11]! - 48;
      if (
        headEnd - s < 16 || buf[s] !== 72 || buf[s + 4] !== 47 || buf[s + 8] !== 32 ||
        !(d0 >= 1 && d0 <= 9 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9)
      ) {
        throw new ProtocolError("Malformed status line");
      }
      const status = d0 * 100 + d1 * 10 + d2;
      let close = buf[s + 7] === 48; // HTTP/1.0
      let length = -1;
      let chunked = false;
      let line = buf.indexOf(LF, s) + 1;
      while (line < headEnd - 2) {
        const lineEnd = buf.indexOf(LF, line);
        const colon = buf.indexOf(58, line);
        if (colon > 0 && colon < lineEnd) {
          let v = colon + 1;
          while (buf[v] === 32 || buf[v] === 9) v++;
          const nameLength = colon - line;
          if (nameIs(buf, line, nameLength, CONTENT_LENGTH)) {
            length = 0;
            for (let c = buf[v]!; c >= 48 && c <= 57; c = buf[++v]!) length = length * 10 + c - 48;
          } else if (nameIs(buf, line, nameLength, TRANSFER_ENCODING)) {
            chunked = latin1.decode(buf.subarray(v, lineEnd)).toLowerCase().includes("chunked");
          } else if (nameIs(buf, line, nameLength, CONNECTION)) {
            const value = latin1.decode(buf.subarray(v, lineEnd)).toLowerCase();
            if (value.includes("close")) close = true;
            else if (value.includes("keep-alive")) close = false;
          }
        }
        line = lineEnd + 1;
      }
      this.#start = headEnd;
      if (status >= 100 && status < 200) continue;
      this.body = "";
      if (status === 204 || status === 304) { /* no body */ }
      else if (chunked) await this.#readChunked(wantBody);
      else if (length >= 0) await this.#readFixed(length, wantBody);
      else {
        while (await this.#fill()) { /* until the server closes */ }
        await this.#readFixed(this.#end - this.#start, wantBody);
        close = true;
      }
      if (wantBody) this.body += this.#decoder.decode();
      if (this.#start === this.#end) this.#start = this.#end = 0;
      if (close) this.close();
      return status;
    }
  }

  async #readFixed(length: number, wantBody: boolean): Promise<void> {
    if (wantBody) {
      while (this.#end - this.#start < length) await this.#more();
      this.body += this.#decoder.decode(this.#buf.subarray(this.#start, this.#start + length), {
        stream: true,
      });
      this.#start += length;
      return;
    }
    let left = length;
    for (;;) {
      const take = Math.min(left, this.#end - this.#start);
      this.#start += take;
      left -= take;
      if (left === 0) return;
      this.#start = this.#end = 0;
      await this.#more();
    }
  }

  async #readLine(): Promise<string> {
    let i = this.#buf.indexOf(LF, this.#start);
    while (i < 0 || i >= this.#end) {
      const scanned = this.#end - this.#start;
      await this.#more();
      i = this.#buf.indexOf(LF, this.#start + scanned);
    }
    const text = latin1.decode(this.#buf.subarray(this.#start, i)).replace(/\r$/, "");
    this.#start = i + 1;
    return text;
  }

  async #readChunked(wantBody: boolean): Promise<void> {
    for (;;) {
      const sizeText = (await this.#readLine()).split(";")[0]!.trim();
      if (!/^[0-9a-fA-F]+$/.test(sizeText)) throw new ProtocolError("Malformed chunk size");
      const size = parseInt(sizeText, 16);
      if (size === 0) {
        while ((await this.#readLine()) !== "") { /* trailers */ }
        return;
      }
      await this.#readFixed(size, wantBody);
      if ((await this.#readLine()) !== "") throw new ProtocolError("Malformed chunk end");
    }
  }
}

// ---------------------------------------------------------------------------
// Runs

/** What {@linkcode runLoad} reports while it runs. */
export interface LoadProgress {
  elapsedMs: number;
  /** Requests finished (answered or failed). */
  requests: number;
  events: number;
  /** Requests that got no HTTP answer. */
  errors: number;
  /** Answers with a status outside 2xx. */
  non2xx: number;
  /** Share of the run done, from 0 to 1. */
  done: number;
}

/** Options of {@linkcode runLoad}. */
export interface LoadOptions {
  /** Herald's base URL, such as `http://127.0.0.1:5000` (`http:` only). */
  url: string;
  /** The parsed config, or the path of a config file. */
  config: GatewayConfig | string;
  /** Weighted actions: see {@linkcode parseMix}. Default: every action, weight 1. */
  mix?: string | Readonly<Record<string, number>>;
  /** Fake users, each with its own `Host` header (default 10). */
  users?: number;
  /** Connections, each with one request at a time (default 50). */
  concurrency?: number;
  /** Stop after this many requests. */
  requests?: number;
  /** Stop issuing requests after this long (default 10 s when `requests` is not given either). */
  durationMs?: number;
  /** Open loop: requests per second at fixed intervals. */
  rate?: number;
  /** Events per request, sent to `POST /events`; 0 or absent sends one `GET` per event. */
  batch?: number;
  /** How a batch body is written (default `ndjson`). */
  batchFormat?: "ndjson" | "json";
  /** A request with no answer after this long fails and its connection is dropped (default 10 s). */
  timeoutMs?: number;
  /** Randomness, numbers in [0, 1) (default `Math.random`). */
  random?: () => number;
  /** Stops issuing requests; those in flight still finish. */
  signal?: AbortSignal;
  /** Called every `progressIntervalMs` while running. */
  onProgress?: (progress: LoadProgress) => void;
  /** Default 1000. */
  progressIntervalMs?: number;
}

/** The outcome of a run; the CLI prints it as is with `--json`. */
export interface LoadSummary {
  /** Requests finished: answered with any status, or failed without an answer. */
  requests: number;
  /** Events Herald accepted: 2xx answers, or the `accepted` count of each batch answer. */
  events: number;
  /** Batch items Herald rejected (from each batch answer). */
  events_rejected: number;
  duration_s: number;
  requests_per_s: number;
  events_per_s: number;
  /** Over answered requests; `null` in JSON (`NaN`) when none was answered. */
  latency_ms: { p50: number; p90: number; p99: number; max: number };
  /** Answers by status code. */
  status: Record<string, number>;
  /** Answers with a status outside 2xx. */
  non_2xx: number;
  /** Requests that got no HTTP answer. */
  errors: number;
  /** `errors` by kind, such as `ConnectionRefused` or `Timeout`. */
  error_kinds: Record<string, number>;
}

interface Target {
  hostname: string;
  port: number;
  basePath: string;
}

function parseTarget(url: string): Target {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new LoadError(`Invalid URL "${url}"`);
  }
  if (parsed.protocol !== "http:") {
    throw new LoadError(`Unsupported URL "${url}": only http:// targets are supported`);
  }
  if (parsed.search !== "" || parsed.hash !== "") {
    throw new LoadError(`Invalid URL "${url}": give a base URL without query or fragment`);
  }
  return {
    hostname: parsed.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: parsed.port === "" ? 80 : Number(parsed.port),
    basePath: parsed.pathname.replace(/\/+$/, ""),
  };
}

function checkCount(name: string, value: number, min = 1): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new LoadError(`Invalid ${name} "${value}": expected an integer of at least ${min}`);
  }
  return value;
}

function checkPositive(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new LoadError(`Invalid ${name} "${value}": expected a number above 0`);
  }
  return value;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const ERROR_BACKOFF_MS = 10;
const COMMON_HEADERS = "User-Agent: herald-load\r\nAccept: */*\r\n";

class Tally {
  requests = 0;
  events = 0;
  rejected = 0;
  errors = 0;
  non2xx = 0;
  readonly codes = new Float64Array(1000);
  readonly errorKinds = new Map<string, number>();
  readonly latency = new LatencyRecorder();

  answer(status: number): void {
    this.codes[status] = this.codes[status]! + 1;
    if (status < 200 || status > 299) this.non2xx++;
  }

  error(error: unknown): void {
    this.errors++;
    const kind = error instanceof Error ? error.name : "Error";
    this.errorKinds.set(kind, (this.errorKinds.get(kind) ?? 0) + 1);
  }
}

interface Worker {
  client: HttpClient;
  out: Uint8Array;
  head: Uint8Array;
  /** When the request in flight was sent; -1 when idle. */
  since: number;
}

const round = (x: number, digits: number) => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

/**
 * Runs a load test against a running Herald and resolves with its summary.
 * Rejects with {@linkcode LoadError} before sending anything when an option or
 * the config is unusable or the target cannot be reached. Non-2xx answers and
 * failed requests do not reject: they are counted in the summary.
 */
export async function runLoad(options: LoadOptions): Promise<LoadSummary> {
  let config: GatewayConfig;
  if (typeof options.config === "string") {
    const loaded = await loadConfig(options.config, { registry: SINKS });
    if (!loaded.ok) throw new LoadError(loaded.errors.join("\n"));
    config = loaded.config;
  } else config = options.config;
  const target = parseTarget(options.url);
  const mix = parseMix(options.mix, config.actions);
  const hosts = userHosts(checkCount("users", options.users ?? 10));
  const concurrency = checkCount("concurrency", options.concurrency ?? 50);
  const limit = options.requests === undefined
    ? Infinity
    : checkCount("requests", options.requests);
  const durationMs = options.durationMs !== undefined
    ? checkPositive("duration", options.durationMs)
    : limit === Infinity
    ? DEFAULT_DURATION_MS
    : Infinity;
  const rate = options.rate === undefined ? 0 : checkPositive("rate", options.rate);
  const batch = checkCount("batch", options.batch ?? 0, 0);
  if (batch > config.server.max_batch_events) {
    throw new LoadError(
      `Invalid batch "${batch}": the config allows at most ${config.server.max_batch_events} events per batch (server.max_batch_events)`,
    );
  }
  const batchFormat = options.batchFormat ?? "ndjson";
  if (batchFormat !== "ndjson" && batchFormat !== "json") {
    throw new LoadError(`Invalid batch format "${batchFormat}": expected ndjson or json`);
  }
  const timeoutMs = checkPositive("timeout", options.timeoutMs ?? 10_000);
  const progressIntervalMs = checkPositive("progress interval", options.progressIntervalMs ?? 1000);
  const random = options.random ?? Math.random;

  const generators = mix.map((m) => new ActionGenerator(m.action));
  const getPrefixes = mix.map((m) => `GET ${target.basePath}${m.action.path}`);
  const totalWeight = mix.reduce((sum, m) => sum + m.weight, 0);
  const cumulative = mix.map((_, i) => mix.slice(0, i + 1).reduce((s, m) => s + m.weight, 0));
  const pick = () => {
    const x = random() * totalWeight;
    let i = 0;
    while (i < cumulative.length - 1 && x >= cumulative[i]!) i++;
    return i;
  };
  const pickHost = () => hosts[Math.floor(random() * hosts.length)]!;
  const contentType = batchFormat === "json" ? "application/json" : "application/x-ndjson";
  const reserve = 1024 + 3 * target.basePath.length;
  const encoder = new TextEncoder();

  const encode = (w: Worker, text: string, offset: number): number => {
    for (;;) {
      const view = offset === 0 ? w.out : w.out.subarray(offset);
      const { read, written } = encoder.encodeInto(text, view);
      if (read === text.length) return written;
      const grown = new Uint8Array(w.out.length * 2 + text.length * 3);
      grown.set(w.out.subarray(0, offset));
      w.out = grown;
    }
  };
  const buildGet = (w: Worker): Uint8Array => {
    const i = pick();
    const query = generators[i]!.query(random);
    const text = `${getPrefixes[i]}${
      query === "" ? "" : `?${query}`
    } HTTP/1.1\r\nHost: ${pickHost()}\r\n${COMMON_HEADERS}\r\n`;
    return w.out.subarray(0, encode(w, text, 0));
  };
  const buildBatch = (w: Worker): Uint8Array => {
    let body = batchFormat === "json" ? "[" : "";
    const separator = batchFormat === "json" ? "," : "\n";
    for (let k = 0; k < batch; k++) {
      if (k > 0) body += separator;
      body += generators[pick()]!.item(random);
    }
    body += batchFormat === "json" ? "]" : "\n";
    const bodyLength = encode(w, body, reserve);
    const head = `POST ${target.basePath}/events HTTP/1.1\r\nHost: ${pickHost()}\r\n` +
      `${COMMON_HEADERS}Content-Type: ${contentType}\r\nContent-Length: ${bodyLength}\r\n\r\n`;
    const headLength = encoder.encodeInto(head, w.head).written;
    w.out.set(w.head.subarray(0, headLength), reserve - headLength);
    return w.out.subarray(reserve - headLength, reserve + bodyLength);
  };

  const tally = new Tally();
  const countBatch = (status: number, body: string) => {
    let answer: { accepted?: unknown; rejected?: unknown } | null = null;
    try {
      answer = JSON.parse(body);
    } catch { /* not JSON: counted by status only */ }
    const accepted = answer?.accepted;
    const rejected = answer?.rejected;
    if (typeof accepted === "number") tally.events += accepted;
    else if (status >= 200 && status < 300) tally.events += batch;
    if (typeof rejected === "number") tally.rejected += rejected;
  };

  const workers: Worker[] = Array.from({ length: concurrency }, () => ({
    client: new HttpClient(target.hostname, target.port),
    out: new Uint8Array(batch > 0 ? reserve + 64 * 1024 : 4096),
    head: new Uint8Array(reserve),
    since: -1,
  }));
  const first = workers[0]!.client;
  try {
    await first.connect();
  } catch (error) {
    throw new LoadError(`Cannot reach "${options.url}": ${(error as Error).message}`);
  }
  await Promise.allSettled(workers.slice(1).map((w) => w.client.connect()));

  const t0 = performance.now();
  const deadline = t0 + durationMs;
  const interval = rate > 0 ? 1000 / rate : 0;
  let issued = 0;
  let stopped = options.signal?.aborted ?? false;
  const onAbort = () => (stopped = true);
  options.signal?.addEventListener("abort", onAbort);
  /** The next request's scheduled time (open loop) or 0 (closed loop); -1 to stop. */
  const next = (): number => {
    if (stopped || issued >= limit) return -1;
    if (rate > 0) {
      const at = t0 + issued * interval;
      if (at >= deadline) return -1;
      issued++;
      return at;
    }
    if (durationMs !== Infinity && performance.now() >= deadline) return -1;
    issued++;
    return 0;
  };

  const work = async (w: Worker) => {
    for (;;) {
      const at = next();
      if (at < 0) return;
      if (rate > 0) {
        const wait = at - performance.now();
        if (wait > 0) await sleep(wait);
      }
      const request = batch > 0 ? buildBatch(w) : buildGet(w);
      const sent = performance.now();
      w.since = sent;
      try {
        const status = await w.client.send(request, batch > 0);
        tally.latency.record(performance.now() - (rate > 0 ? at : sent));
        tally.answer(status);
        if (batch > 0) countBatch(status, w.client.body);
        else if (status >= 200 && status < 300) tally.events++;
      } catch (error) {
        tally.error(error);
        w.since = -1;
        await sleep(ERROR_BACKOFF_MS);
      } finally {
        w.since = -1;
        tally.requests++;
      }
    }
  };

  let lastProgress = t0;
  const progress = (now: number, finished = false): LoadProgress => {
    const elapsedMs = now - t0;
    const byCount = limit === Infinity ? 0 : tally.requests / limit;
    const byTime = durationMs === Infinity ? 0 : elapsedMs / durationMs;
    return {
      elapsedMs,
      requests: tally.requests,
      events: tally.events,
      errors: tally.errors,
      non2xx: tally.non2xx,
      done: finished ? 1 : Math.min(1, Math.max(byCount, byTime)),
    };
  };
  const ticker = setInterval(() => {
    const now = performance.now();
    for (const w of workers) if (w.since >= 0 && now - w.since > timeoutMs) w.client.abort();
    if (options.onProgress && now - lastProgress >= progressIntervalMs) {
      lastProgress = now;
      options.onProgress(progress(now));
    }
  }, Math.min(250, progressIntervalMs, timeoutMs));

  let end: number;
  try {
    await Promise.all(workers.map(work));
    end = performance.now();
  } finally {
    clearInterval(ticker);
    options.signal?.removeEventListener("abort", onAbort);
    for (const w of workers) w.client.close();
  }
  options.onProgress?.(progress(end, true));

  const seconds = (end - t0) / 1000;
  const status: Record<string, number> = {};
  tally.codes.forEach((n, code) => {
    if (n > 0) status[String(code)] = n;
  });
  const latency = tally.latency;
  const ms = (x: number) => round(x, 3);
  return {
    requests: tally.requests,
    events: tally.events,
    events_rejected: tally.rejected,
    duration_s: round(seconds, 3),
    requests_per_s: round(tally.requests / seconds, 1),
    events_per_s: round(tally.events / seconds, 1),
    latency_ms: {
      p50: ms(latency.percentile(50)),
      p90: ms(latency.percentile(90)),
      p99: ms(latency.percentile(99)),
      max: ms(latency.max),
    },
    status,
    non_2xx: tally.non2xx,
    errors: tally.errors,
    error_kinds: Object.fromEntries(tally.errorKinds),
  };
}

/** The summary as text for people, one line per topic. */
export function formatSummary(summary: LoadSummary): string {
  const n = (x: number) => (Number.isNaN(x) ? "-" : x.toFixed(2));
  const { p50, p90, p99, max } = summary.latency_ms;
  const codes = Object.entries(summary.status).map(([code, count]) => `${code}: ${count}`);
  const lines = [
    `requests    ${summary.requests} in ${summary.duration_s.toFixed(2)} s: ${
      summary.requests_per_s.toFixed(1)
    } requests/s`,
    `events      ${summary.events}: ${summary.events_per_s.toFixed(1)} events/s` +
    (summary.events_rejected > 0 ? `, ${summary.events_rejected} rejected` : ""),
    `latency ms  p50 ${n(p50)}, p90 ${n(p90)}, p99 ${n(p99)}, max ${n(max)}`,
    `status      ${[...codes, `error: ${summary.errors}`].join(", ")}`,
  ];
  const kinds = Object.entries(summary.error_kinds);
  if (kinds.length > 0) {
    lines.push(`errors      ${kinds.map(([kind, count]) => `${kind}: ${count}`).join(", ")}`);
  }
  if (summary.non_2xx > 0 || summary.errors > 0) {
    lines.push(
      `warning     ${summary.non_2xx} answers were not 2xx and ${summary.errors} requests got no answer, of ${summary.requests}`,
    );
  }
  return `${lines.join("\n")}\n`;
}

// ---------------------------------------------------------------------------
// CLI

/** The usage text of `deno task load`. */
export const USAGE = `Usage: deno task load [flags]

Sends generated game traffic to a running Herald: a weighted mix of the
config's actions with valid random field values, from fake users that each
send their own Host header. Prints requests/s, events/s, latency percentiles
and the count of every status.

  --config <path>       Herald config (default ${DEFAULT_CONFIG})
  --url <url>           target (default ${DEFAULT_URL})
  --mix a=5,b=2         weighted actions; a bare name weighs 1 (default: every action, 1)
  --users <n>           fake users, each with its own Host header (default 10)
  --concurrency <n>     connections, one request at a time each (default 50)
  --requests <n>        stop after n requests
  --duration <d>        stop after d, such as 500ms, 30s, 2m (default 10s without --requests)
  --rate <r>            open loop: r requests/s at fixed intervals, latency counted
                        from each request's scheduled time
  --batch <k>           send POST /events with k events per request
  --batch-format <f>    ndjson (default) or json
  --timeout <d>         drop a request unanswered after d (default 10s)
  --json                print the summary as one JSON object on stdout
  --help                this text

Progress goes to stderr. Exit code 0 when the run finished (non-2xx answers
included), 1 on a bad flag value, config or unreachable target, 2 on a usage
error.

Examples:
  deno task load --mix purchase_a_sword=5,join_guild=2 --users 100 --duration 30s
  deno task load --rate 2000 --duration 1m --json
  deno task load --batch 100 --requests 1000`;

const COUNT_TEXT = /^\d+$/;
const NUMBER_TEXT = /^(\d+(\.\d*)?|\.\d+)$/;

function flagCount(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!COUNT_TEXT.test(text) || Number(text) < 1) {
    throw new LoadError(`Invalid --${flag} "${text}": expected a positive integer`);
  }
  return Number(text);
}

function progressPrinter(isTerminal: boolean) {
  const encoder = new TextEncoder();
  let last = { elapsedMs: 0, requests: 0 };
  const write = (text: string) => {
    try {
      Deno.stderr.writeSync(encoder.encode(text));
    } catch { /* stderr gone */ }
  };
  return {
    intervalMs: isTerminal ? 250 : 5000,
    onProgress(p: LoadProgress) {
      const seconds = (p.elapsedMs - last.elapsedMs) / 1000;
      const perSecond = seconds > 0 ? (p.requests - last.requests) / seconds : 0;
      last = p;
      const stats = `${(p.elapsedMs / 1000).toFixed(1)}s  ${p.requests} requests  ${
        perSecond.toFixed(0)
      } req/s  ${p.errors} errors  ${p.non2xx} non-2xx`;
      if (isTerminal) {
        const filled = Math.round(p.done * 30);
        const bar = `[${"#".repeat(filled)}${"-".repeat(30 - filled)}] ${
          (p.done * 100).toFixed(0).padStart(3)
        }%`;
        write(`\r\x1b[2K${bar}  ${stats}`);
      } else write(`load: ${stats}\n`);
    },
    finish() {
      if (isTerminal) write("\r\x1b[2K");
    },
  };
}

async function writeText(out: { write(p: Uint8Array): Promise<number> }, text: string) {
  const bytes = new TextEncoder().encode(text);
  for (let done = 0; done < bytes.length;) done += await out.write(bytes.subarray(done));
}

/** Runs the CLI with `args`; resolves with the exit code. */
export async function main(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        config: { type: "string", default: DEFAULT_CONFIG },
        url: { type: "string", default: DEFAULT_URL },
        mix: { type: "string" },
        users: { type: "string" },
        concurrency: { type: "string" },
        requests: { type: "string" },
        duration: { type: "string" },
        rate: { type: "string" },
        batch: { type: "string" },
        "batch-format": { type: "string" },
        timeout: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (error) {
    await writeText(Deno.stderr, `${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    await writeText(Deno.stdout, `${USAGE}\n`);
    return 0;
  }
  const printer = progressPrinter(Deno.stderr.isTerminal());
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  Deno.addSignalListener("SIGINT", onSigint);
  let summary: LoadSummary;
  try {
    const rate = values.rate;
    if (rate !== undefined && !NUMBER_TEXT.test(rate)) {
      throw new LoadError(`Invalid --rate "${rate}": expected a number of requests per second`);
    }
    const format = values["batch-format"];
    if (format !== undefined && format !== "ndjson" && format !== "json") {
      throw new LoadError(`Invalid --batch-format "${format}": expected ndjson or json`);
    }
    summary = await runLoad({
      url: values.url,
      config: values.config,
      mix: values.mix,
      users: flagCount("users", values.users),
      concurrency: flagCount("concurrency", values.concurrency),
      requests: flagCount("requests", values.requests),
      durationMs: values.duration === undefined ? undefined : parseDuration(values.duration),
      rate: rate === undefined ? undefined : Number(rate),
      batch: flagCount("batch", values.batch),
      batchFormat: format,
      timeoutMs: values.timeout === undefined ? undefined : parseDuration(values.timeout),
      signal: controller.signal,
      onProgress: printer.onProgress,
      progressIntervalMs: printer.intervalMs,
    });
  } catch (error) {
    if (!(error instanceof LoadError)) throw error;
    await writeText(Deno.stderr, `${error.message}\n`);
    return 1;
  } finally {
    printer.finish();
    Deno.removeSignalListener("SIGINT", onSigint);
  }
  try {
    await writeText(
      Deno.stdout,
      values.json ? `${JSON.stringify(summary)}\n` : formatSummary(summary),
    );
  } catch (error) {
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));

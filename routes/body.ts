/**
 * Request bodies: the raw bytes read once per request, within a size and a
 * time limit, decompressed when they carry a `Content-Encoding` (within the
 * same size limit), and JSON (or NDJSON) parsed from them with a nesting limit.
 *
 * @module
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { GatewayConfig } from "../config/mod.ts";
import type { HeraldEnv } from "./env.ts";
import { readAll } from "./_read_all.ts";
import { ACCEPTED_ENCODINGS, compressionOf, decompress } from "./content_encoding.ts";

/** How much body a request may send, and how long it may take. */
export interface BodyLimits {
  maxBytes: number;
  timeoutMs: number;
}

/**
 * Reads the raw body once per request (later calls get the same bytes):
 * 413 past `maxBytes`, counted as the bytes arrive, so a chunked body or one
 * longer than its `Content-Length` claims is cut off too; 408 when the whole
 * body has not arrived within `timeoutMs` (a client trickling bytes cannot
 * hold a request open); 400 when the client hangs up mid-body.
 */
export async function readRawBody(c: Context<HeraldEnv>, limits: BodyLimits): Promise<Uint8Array> {
  const cached = c.get("rawBody");
  if (cached) return cached;
  const stream = c.req.raw.body;
  if (!stream) {
    c.set("rawBody", new Uint8Array(0));
    return c.get("rawBody")!;
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new HTTPException(408, { message: `Body not received within ${limits.timeoutMs} ms` }),
        ),
      limits.timeoutMs,
    );
  });
  let body: Uint8Array;
  try {
    body = await readAll(stream.getReader(), limits.maxBytes, { until: deadline });
  } catch (error) {
    if (error instanceof HTTPException) throw error;
    // The client closed the connection (or broke the framing) mid-body: its
    // fault, not ours, and nobody is left to read the answer.
    throw new HTTPException(400, { message: "Body ended before its declared length" });
  } finally {
    clearTimeout(timer);
  }
  c.set("rawBody", body);
  return body;
}

/**
 * The body with its `Content-Encoding` undone (the raw body when it has
 * none, or `identity`). The size limit applies to the bytes as sent and
 * again to the decompressed bytes: 415 for an encoding Herald does not
 * decode (answered with `Accept-Encoding`), 413 past `maxBytes` either
 * way, 400 for a corrupt or truncated stream. The decompressed bytes are
 * kept as `body`.
 */
export async function readBody(c: Context<HeraldEnv>, limits: BodyLimits): Promise<Uint8Array> {
  const header = c.req.raw.headers.get("content-encoding");
  // The one check an uncompressed body pays.
  if (header === null) return await readRawBody(c, limits);
  const format = compressionOf(header);
  if (format === undefined) {
    // RFC 9110 (15.5.16): a 415 for a content coding says which ones would do.
    c.header("accept-encoding", ACCEPTED_ENCODINGS);
    throw new HTTPException(415, {
      message: `Content-Encoding ${
        JSON.stringify(header)
      } is not supported: use ${ACCEPTED_ENCODINGS}, identity or none`,
    });
  }
  const raw = await readRawBody(c, limits);
  const body = format === null || raw.length === 0
    ? raw
    : await decompress(raw, format, { maxBytes: limits.maxBytes });
  c.set("body", body);
  return body;
}

/** The body limits of a config's `server:` section. */
export function bodyLimits(server: GatewayConfig["server"]): BodyLimits {
  return { maxBytes: server.max_body_bytes, timeoutMs: server.body_timeout_ms };
}

/**
 * Reads a JSON body; an empty body is `undefined`. `plainText` also takes
 * `text/plain` as JSON (what Segment's browser SDK sends, to skip a CORS
 * preflight). Throws 415 for another content type, 400 for a body that is not UTF-8, nests deeper than
 * `maxDepth` or is not JSON (all checked on the decompressed bytes), and
 * 408/413/415 as {@linkcode readBody}.
 */
export async function readJsonBody(
  c: Context<HeraldEnv>,
  options: { ndjson?: boolean; plainText?: boolean; maxDepth: number; limits: BodyLimits },
): Promise<unknown> {
  const ndjson = options.ndjson ?? false;
  const type = c.req.header("content-type")?.split(";")[0]?.trim().toLowerCase();
  const raw = await readBody(c, options.limits);
  let text: string;
  try {
    text = UTF8.decode(raw);
  } catch {
    throw new HTTPException(400, { message: "Body is not valid UTF-8" });
  }
  if (text.trim() === "") return undefined;
  if (nestsDeeper(text, options.maxDepth)) {
    throw new HTTPException(400, {
      message: `Body nests JSON arrays or objects deeper than ${options.maxDepth} levels`,
    });
  }
  const isNdjson = type === "application/x-ndjson" || type === "application/jsonl";
  const isPlain = options.plainText === true && type === "text/plain";
  if (type !== undefined && type !== "application/json" && !(ndjson && isNdjson) && !isPlain) {
    const expected = ndjson ? "application/json or application/x-ndjson" : "application/json";
    throw new HTTPException(415, { message: `Content-Type must be ${expected}, got "${type}"` });
  }
  try {
    if (isNdjson) return text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
    return JSON.parse(text);
  } catch (error) {
    throw new HTTPException(400, {
      message: `Body is not valid JSON: ${(error as Error).message}`,
    });
  }
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Whether `text` opens more than `max` arrays or objects at once (brackets
 * inside strings do not count). Checked before parsing, so a body of ten
 * thousand `[` costs one scan, not a deep parse.
 */
export function nestsDeeper(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c) i++; // backslash: skip the escaped character
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) inString = true;
    else if (ch === 0x5b || ch === 0x7b) {
      if (++depth > max) return true;
    } else if (ch === 0x5d || ch === 0x7d) depth--;
    else if (ch === 0x0a) depth = 0; // NDJSON: each line stands alone
  }
  return false;
}

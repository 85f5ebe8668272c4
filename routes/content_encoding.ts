/**
 * Compressed request bodies: which `Content-Encoding` values Herald undoes,
 * and undoing one within a limit on the decompressed bytes.
 *
 * @module
 */
import { HTTPException } from "hono/http-exception";
import { readAll } from "./_read_all.ts";

const FORMATS = new Map<string, CompressionFormat | null>([
  ["gzip", "gzip"],
  ["x-gzip", "gzip"],
  ["deflate", "deflate"],
  ["identity", null],
]);

/** The `Content-Encoding` values Herald decodes, for `Accept-Encoding` and error messages. */
export const ACCEPTED_ENCODINGS = [...FORMATS].filter(([, f]) => f !== null).map(([name]) => name)
  .join(", ");

/**
 * The decompression format of a `Content-Encoding` header: null for
 * `identity`, undefined for any other value, a list of several included (no
 * client needs two encodings on an event body).
 */
export function compressionOf(header: string): CompressionFormat | null | undefined {
  return FORMATS.get(header.trim().toLowerCase());
}

// Deno's DecompressionStream inflates a whole written chunk at once, and
// deflate reaches about 1000:1: fed 1 KiB at a time, a bomb yields at most
// about 1 MiB before the limit is checked again.
const SLICE_BYTES = 1024;

/**
 * Decompresses `bytes` (a whole body). 413 as soon as the output passes
 * `options.maxBytes` (the decompressor is cancelled: a bomb costs at most the limit);
 * 400 naming the problem for a stream that is corrupt, truncated or followed
 * by more data.
 */
export async function decompress(
  bytes: Uint8Array,
  format: CompressionFormat,
  options: { maxBytes: number },
): Promise<Uint8Array> {
  const { maxBytes } = options;
  let at = 0;
  const slices = new ReadableStream<BufferSource>({
    pull(controller) {
      if (at >= bytes.length) controller.close();
      else controller.enqueue(bytes.subarray(at, at += SLICE_BYTES) as BufferSource);
    },
  }, { highWaterMark: 0 });
  const reader = slices.pipeThrough(new DecompressionStream(format)).getReader();
  let body: Uint8Array;
  try {
    body = await readAll(reader, maxBytes, { note: `once decompressed (${format})` });
  } catch (error) {
    if (error instanceof HTTPException) throw error;
    throw new HTTPException(400, { message: `Body is not valid ${format}: ${problem(error)}` });
  }
  // Deno's deflate decoder accepts a stream cut short, even before its last
  // block: the Adler-32 trailer is what tells a whole stream.
  if (format === "deflate" && !endsWithAdler32(bytes, body)) {
    throw new HTTPException(400, {
      message: "Body is not valid deflate: the stream is truncated (no matching Adler-32 trailer)",
    });
  }
  return body;
}

/** The decoder's complaint in words a client can act on. */
function problem(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // What Deno says when input is left over after the end of the stream.
  if (message === "failed to write whole buffer") return "data follows the end of the stream";
  if (/matching checksum/.test(message)) return "the stream is corrupt or truncated (checksum)";
  return message;
}

/** Whether the last 4 bytes of a zlib stream are the Adler-32 of `body`. */
function endsWithAdler32(stream: Uint8Array, body: Uint8Array): boolean {
  if (stream.length < 6) return false; // 2 header bytes, at least 4 of trailer
  const n = stream.length;
  const trailer = ((stream[n - 4]! << 24) | (stream[n - 3]! << 16) | (stream[n - 2]! << 8) |
    stream[n - 1]!) >>> 0;
  return adler32(body) === trailer;
}

/** Adler-32 (RFC 1950), as a zlib stream's trailer holds it. */
function adler32(data: Uint8Array): number {
  let a = 1;
  let b = 0;
  // Reduced every 5552 bytes, as zlib does (NMAX), so the sums stay small integers.
  for (let start = 0; start < data.length; start += 5552) {
    const end = Math.min(start + 5552, data.length);
    for (let i = start; i < end; i++) {
      a += data[i]!;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

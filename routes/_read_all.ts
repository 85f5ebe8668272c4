/**
 * Reading a stream of byte chunks to its end within a byte limit: what the
 * raw body reader and the decompressor share.
 *
 * @module
 */
import { HTTPException } from "hono/http-exception";

/** Options of {@linkcode readAll}. */
export interface ReadAllOptions {
  /** More bytes than this is a 413. */
  maxBytes: number;
  /** The 413's message. */
  tooLarge: string;
  /** Rejects when the reading must stop (a deadline); raced against every read. */
  until?: Promise<never>;
}

/**
 * Reads `reader` to its end into one array. Past `maxBytes` it stops at once,
 * cancels the reader and throws 413; any other failure (a read that fails,
 * `until` rejecting) cancels the reader too and is rethrown for the caller
 * to name.
 */
export async function readAll(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  options: ReadAllOptions,
): Promise<Uint8Array> {
  const { maxBytes, until } = options;
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await (until ? Promise.race([reader.read(), until]) : reader.read());
      if (done) break;
      size += value.length;
      if (size > maxBytes) throw new HTTPException(413, { message: options.tooLarge });
      chunks.push(value);
    }
  } catch (error) {
    reader.cancel().catch(() => {});
    throw error;
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.length;
  }
  return all;
}

/**
 * Reading a stream of byte chunks to its end within a byte limit: what the
 * raw body reader and the decompressor share.
 *
 * @module
 */
import { HTTPException } from "hono/http-exception";

/** Options of {@linkcode readAll}. */
export interface ReadAllOptions {
  /** Rejects when the reading must stop (a deadline); raced against every read. */
  until?: Promise<never>;
  /** Said after the limit in the 413's message (built only when it is thrown). */
  note?: string;
}

/**
 * Reads `reader` to its end into one array. Past `maxBytes` it stops at once,
 * cancels the reader and throws 413; any other failure (a read that fails,
 * `until` rejecting) cancels the reader too and is rethrown for the caller
 * to name.
 */
export async function readAll(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  maxBytes: number,
  options: ReadAllOptions = {},
): Promise<Uint8Array> {
  const { until } = options;
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await (until ? Promise.race([reader.read(), until]) : reader.read());
      if (done) break;
      size += value.length;
      if (size > maxBytes) {
        const note = options.note ? ` ${options.note}` : "";
        throw new HTTPException(413, { message: `Body exceeds ${maxBytes} bytes${note}` });
      }
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

/** Byte-writing helpers shared by the sinks and the lander. */
/** Anything with `write`, such as `Deno.stdout` or a `Deno.FsFile`. */
export interface ByteWriter {
  write(bytes: Uint8Array): Promise<number>;
}

/** A writer whose writes never wait on a reader, so they may be made synchronously. */
export interface SyncByteWriter extends ByteWriter {
  writeSync(bytes: Uint8Array): number;
}

/** Writes all of `bytes` synchronously: a single `writeSync` may take only part of them. */
export function writeAllSync(writer: SyncByteWriter, bytes: Uint8Array): void {
  while (bytes.length > 0) bytes = bytes.subarray(writer.writeSync(bytes));
}

/** Writes all of `bytes`: a single `write` may take only part of them. */
export async function writeAll(writer: ByteWriter, bytes: Uint8Array): Promise<void> {
  while (bytes.length > 0) bytes = bytes.subarray(await writer.write(bytes));
}

/**
 * Frees the memory behind `bytes` now instead of at some later garbage
 * collection, by detaching its buffer: V8 collects little garbage where
 * little is allocated on its heap, so big buffers could pile up unreclaimed.
 * `bytes` must own its buffer, and neither may be used again. Buffers that
 * cannot be detached (WebAssembly memory) are left alone.
 */
export function discard(bytes: ArrayBufferView): void {
  try {
    (bytes.buffer as ArrayBuffer).transfer(0);
  } catch {
    // Not detachable: freed by the garbage collector, as any buffer.
  }
}

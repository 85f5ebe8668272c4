/** Byte-writing helpers shared by the sinks and the lander. */
/** Anything with `write`, such as `Deno.stdout` or a `Deno.FsFile`. */
export interface ByteWriter {
  write(bytes: Uint8Array): Promise<number>;
}

/** Writes all of `bytes`: a single `write` may take only part of them. */
export async function writeAll(writer: ByteWriter, bytes: Uint8Array): Promise<void> {
  while (bytes.length > 0) bytes = bytes.subarray(await writer.write(bytes));
}

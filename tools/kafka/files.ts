/**
 * File helpers of the local Kafka: reads that take a missing file for none,
 * an atomic write, and a read from an offset to follow a broker's log.
 *
 * @module
 */

/** The text of `path`, or null when there is no such file. */
export async function readTextOrNull(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** Whether `path` exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Writes `text` to `path` unless it already holds it, atomically (temp file + rename). */
export async function writeTextIfChanged(path: string, text: string): Promise<void> {
  if ((await readTextOrNull(path)) === text) return;
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  await Deno.writeTextFile(tmp, text);
  await Deno.rename(tmp, path);
}

/** Reads `path` from byte `position` to its end. */
export async function readFrom(path: string, position: number): Promise<Uint8Array> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return new Uint8Array();
    throw error;
  }
  try {
    await file.seek(position, Deno.SeekMode.Start);
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(65536);
    for (;;) {
      const n = await file.read(buffer);
      if (n === null || n === 0) break;
      chunks.push(buffer.slice(0, n));
    }
    const out = new Uint8Array(chunks.reduce((sum, c) => sum + c.length, 0));
    let offset = 0;
    for (const chunk of chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  } finally {
    file.close();
  }
}

/** Removes the file `path`; a file already gone is not an error. */
export async function removeIfExists(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

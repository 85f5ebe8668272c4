/**
 * Range claims of the lander: which offsets `[first, last]` of a topic
 * partition the `land-<topic>-<partition>-<first>-<last>` files hold. A claim is a
 * small JSON file named by its first offset, published once and never
 * rewritten, so every lander that writes those files writes the same rows.
 *
 * @module
 */
import { syncDir } from "../sinks/parquet/mod.ts";
import { writeAll } from "../sinks/io.ts";

/** Offsets `[first, last]` of one topic partition. */
export interface Range {
  first: number;
  last: number;
}

/** Reads the claim of `first` in `dir`, or null if there is none. */
export async function readClaim(dir: string, first: number): Promise<Range | null> {
  const path = `${dir}/${first}.json`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  const parsed = JSON.parse(text);
  if (parsed.first !== first || !Number.isSafeInteger(parsed.last) || parsed.last < first) {
    throw new SyntaxError(`Cannot read the range claim "${path}": got ${text}`);
  }
  return { first, last: parsed.last };
}

/**
 * Claims `range` in `dir` unless its first offset is claimed already, and
 * returns the claim that holds. The claim is written whole and fsynced under a
 * temporary name, then published with a hard link, which fails if the name
 * exists: of two landers racing for an offset, exactly one wins.
 */
export async function claim(dir: string, range: Range): Promise<Range> {
  await Deno.mkdir(dir, { recursive: true });
  const path = `${dir}/${range.first}.json`;
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  const file = await Deno.open(tmp, { write: true, createNew: true });
  try {
    await writeAll(file, new TextEncoder().encode(JSON.stringify(range)));
    await file.syncData();
  } finally {
    file.close();
  }
  try {
    await Deno.link(tmp, path);
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  } finally {
    await Deno.remove(tmp);
  }
  await syncDir(dir);
  return (await readClaim(dir, range.first))!;
}

/**
 * Deletes the claims in `dir` of ranges before offset `committed` that are
 * older than `retentionMs`. A lander stalled (not dead) in the middle of a
 * flush for longer than that could claim such a range again with another end.
 */
export async function pruneClaims(
  dir: string,
  committed: number,
  options: { retentionMs: number; now?: number },
): Promise<void> {
  const now = options.now ?? Date.now();
  for await (const entry of Deno.readDir(dir)) {
    const first = /^(\d+)\.json$/.exec(entry.name)?.[1];
    if (first === undefined || Number(first) >= committed) continue;
    const { mtime } = await Deno.stat(`${dir}/${entry.name}`);
    if (mtime && now - mtime.getTime() > options.retentionMs) {
      await Deno.remove(`${dir}/${entry.name}`).catch(() => {});
    }
  }
}

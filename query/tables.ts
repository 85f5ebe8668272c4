/**
 * Which folders of the lake are tables with data: a name matching
 * {@linkcode TABLE_NAME} and at least one `dt=*` / `hour=*` / `*.parquet`
 * file.
 *
 * @module
 */
import { join } from "node:path";
import { LakeError } from "./errors.ts";

/**
 * Table names: lake folders with any other name are not tables. `_rejected`
 * holds the records the lander could not land and the Segment messages the
 * gateway stored (`segment.unknown_events: store`).
 */
export const TABLE_NAME = /^(?:[a-z][a-z0-9_]*|_rejected)$/;

async function readDirNames(
  dir: string,
  keep: (entry: Deno.DirEntry) => boolean,
): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) if (keep(entry)) names.push(entry.name);
  return names.sort();
}

/** Whether `tableDir` holds at least one `dt=*` / `hour=*` / `*.parquet` file. */
async function hasParquetFiles(tableDir: string): Promise<boolean> {
  const isDir = (prefix: string) => (e: Deno.DirEntry) =>
    e.isDirectory && e.name.startsWith(prefix);
  for (const dt of await readDirNames(tableDir, isDir("dt="))) {
    for (const hour of await readDirNames(join(tableDir, dt), isDir("hour="))) {
      const parts = await readDirNames(
        join(tableDir, dt, hour),
        (e) => e.isFile && e.name.endsWith(".parquet") && !/^[._]/.test(e.name),
      );
      if (parts.length > 0) return true;
    }
  }
  return false;
}

/**
 * The tables of the lake at `dir` that hold at least one Parquet file, sorted.
 * Throws {@linkcode LakeError} when `dir` is missing or not a folder.
 */
export async function findTables(dir: string): Promise<string[]> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new LakeError(`Cannot open lake "${dir}": no such folder`);
    }
    throw error;
  }
  if (!info.isDirectory) throw new LakeError(`Cannot open lake "${dir}": not a folder`);
  const candidates = await readDirNames(dir, (e) => e.isDirectory && TABLE_NAME.test(e.name));
  const tables: string[] = [];
  for (const table of candidates) {
    if (await hasParquetFiles(join(dir, table))) tables.push(table);
  }
  return tables;
}

/**
 * The lander's memory of the event ids it landed: a repeat of one landed
 * within the window (`--dedup-window-ms`, `--dedup-max-ids`) is dropped, so a
 * retry that reached two gateways (two records in Kafka) lands once. Each id
 * remembers the range file it landed in: a range being rebuilt after a crash
 * keeps its own rows. At start the window is filled from the lander files
 * (`land-*.parquet`) written within it, so a restart forgets nothing.
 *
 * @module
 */
import { tableFromIPC } from "apache-arrow";
import { readParquet } from "parquet-wasm";
import type { Logger } from "pino";
import { type IdWindow, RecentIds } from "../routes/recent_ids.ts";

/** Event ids landed within the window, each with the name of the range file it is in. */
export class LandedIds {
  readonly #ids: RecentIds<string>;
  readonly #now: () => number;

  constructor(window: IdWindow, now: () => number = Date.now) {
    this.#ids = new RecentIds(window);
    this.#now = now;
  }

  /** Whether ids are remembered at all (`--dedup-max-ids 0` turns dedup off). */
  get enabled(): boolean {
    return this.#ids.window.maxIds > 0;
  }

  /** Ids held now, and those dropped early for the count bound. */
  stats(): { held: number; earlyEvictions: number } {
    return this.#ids.stats();
  }

  /** Whether `id` was landed within the window in a file other than `file`. */
  landedElsewhere(id: string, file: string): boolean {
    const landedIn = this.#ids.get(id, this.#now());
    return landedIn !== undefined && landedIn !== file;
  }

  /** Remembers `ids` as landed in `file` now (or at `at`). */
  landed(ids: Iterable<string>, file: string, at = this.#now()): void {
    for (const id of ids) this.#ids.add(id, at, file);
  }

  /**
   * Fills the window from the lander files of `tables` in `lake` written
   * within it, oldest first (each id at its file's time). Folders of hours
   * unchanged since before the window are skipped without being read.
   */
  async seed(lake: string, tables: Iterable<string>, logger: Logger): Promise<void> {
    if (!this.enabled) return;
    const since = this.#now() - this.#ids.window.windowMs;
    const files: { path: string; name: string; at: number }[] = [];
    for (const table of tables) {
      for (const hour of await recentDirs(`${lake}/${table}`, 2, since)) {
        for await (const entry of Deno.readDir(hour)) {
          if (!entry.isFile || !/^land-.*\.parquet$/.test(entry.name)) continue;
          const { mtime } = await Deno.stat(`${hour}/${entry.name}`);
          const at = mtime?.getTime() ?? 0;
          if (at > since) files.push({ path: `${hour}/${entry.name}`, name: entry.name, at });
        }
      }
    }
    files.sort((a, b) => a.at - b.at);
    for (const file of files) {
      try {
        this.landed(await eventIds(file.path), file.name, file.at);
      } catch (error) {
        logger.warn({ file: file.path, err: String(error) }, "cannot read landed ids");
      }
    }
    if (files.length > 0) {
      logger.info({ files: files.length, ids: this.stats().held }, "dedup window filled");
    }
  }
}

/** Folders `depth` levels below `dir` (`dt=`, then `hour=`) changed after `since`. */
async function recentDirs(dir: string, depth: number, since: number): Promise<string[]> {
  const out: string[] = [];
  let entries;
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return out;
    throw error;
  }
  for (const entry of entries) {
    if (!entry.isDirectory || entry.name.startsWith(".")) continue;
    const path = `${dir}/${entry.name}`;
    if (depth > 1) out.push(...await recentDirs(path, depth - 1, since));
    else if (((await Deno.stat(path)).mtime?.getTime() ?? Infinity) > since) out.push(path);
  }
  return out;
}

/** The `event_id` column of a Parquet file. */
async function eventIds(path: string): Promise<string[]> {
  const table = tableFromIPC(
    readParquet(await Deno.readFile(path), { columns: ["event_id"] }).intoIPCStream(),
  );
  const column = table.getChild("event_id");
  const ids: string[] = [];
  for (const id of column ?? []) if (typeof id === "string") ids.push(id);
  return ids;
}

/**
 * Live config reload. A reload loads and validates the file exactly as
 * startup does; an invalid file is rejected with the same errors and the
 * running config keeps serving. A valid one is handed to the sinks (new
 * tables, new topics) and then swapped in at once for new requests, while
 * requests already running finish on the config they started with.
 *
 * What is bound at startup (the listening address and the sinks with their
 * options) is kept until a restart; a reload that changes it says so.
 *
 * @module
 */
import type { Logger } from "pino";
import type { GatewayConfig } from "../config/mod.ts";

/** A config file's load: the config, or every problem found in it. */
export type LoadResult = { ok: true; config: GatewayConfig } | { ok: false; errors: string[] };

/** What a reload did. */
export type ReloadOutcome =
  | {
    applied: true;
    added: string[];
    removed: string[];
    changed: string[];
    /** Keys whose new values wait for a restart. */
    restartNeeded: string[];
  }
  | { applied: false; errors: string[] };

/** What {@linkcode createReloader} needs. */
export interface ReloaderDeps {
  /** The config serving now. */
  current(): GatewayConfig;
  /** Loads and validates the config file, with the same overrides as at startup. */
  load(): Promise<LoadResult>;
  /** Puts `next` in service; when it rejects, the old config keeps serving. */
  apply(next: GatewayConfig): Promise<void>;
  logger: Logger;
  /** Counts each reload by outcome. */
  count?(outcome: "applied" | "rejected"): void;
}

/**
 * Returns `next` with what only a restart can change taken from `old`, and
 * the names of those keys whose values differ.
 */
export function keepStartupBound(
  old: GatewayConfig,
  next: GatewayConfig,
): { config: GatewayConfig; restartNeeded: string[] } {
  const restartNeeded: string[] = [];
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  for (const key of ["port", "hostname"] as const) {
    if (old.server[key] !== next.server[key]) restartNeeded.push(`server.${key}`);
  }
  if (!same(old.sinks, next.sinks)) restartNeeded.push("sinks");
  for (const name of new Set([...Object.keys(old.sinkOptions), ...Object.keys(next.sinkOptions)])) {
    if (!same(old.sinkOptions[name], next.sinkOptions[name])) restartNeeded.push(name);
  }
  return {
    config: {
      ...next,
      server: { ...next.server, port: old.server.port, hostname: old.server.hostname },
      sinks: old.sinks,
      sinkOptions: old.sinkOptions,
    },
    restartNeeded,
  };
}

/** Action names added, removed and changed between two configs. */
export function actionChanges(
  old: GatewayConfig,
  next: GatewayConfig,
): { added: string[]; removed: string[]; changed: string[] } {
  const before = new Map(old.actions.map((a) => [a.name, JSON.stringify(a)]));
  const after = new Map(next.actions.map((a) => [a.name, JSON.stringify(a)]));
  return {
    added: [...after.keys()].filter((n) => !before.has(n)),
    removed: [...before.keys()].filter((n) => !after.has(n)),
    changed: [...after].filter(([n, a]) => before.has(n) && before.get(n) !== a).map(([n]) => n),
  };
}

/**
 * Returns `reload(reason)`. Reloads run one at a time, in the order asked;
 * each logs one line saying what changed or why it was rejected.
 */
export function createReloader(deps: ReloaderDeps): (reason: string) => Promise<ReloadOutcome> {
  let queue: Promise<unknown> = Promise.resolve();
  const reject = (reason: string, errors: string[]): ReloadOutcome => {
    deps.count?.("rejected");
    deps.logger.error(
      { reason, errors },
      "config reload rejected; the running config keeps serving",
    );
    return { applied: false, errors };
  };
  const once = async (reason: string): Promise<ReloadOutcome> => {
    const loaded = await deps.load();
    if (!loaded.ok) return reject(reason, loaded.errors);
    const old = deps.current();
    const { config, restartNeeded } = keepStartupBound(old, loaded.config);
    try {
      await deps.apply(config);
    } catch (error) {
      return reject(reason, [error instanceof Error ? error.message : String(error)]);
    }
    const changes = actionChanges(old, config);
    deps.count?.("applied");
    deps.logger.info({
      reason,
      ...changes,
      actions: config.actions.map((a) => a.name),
      restart_needed: restartNeeded,
    }, "config reloaded");
    if (restartNeeded.length > 0) {
      deps.logger.warn(
        { keys: restartNeeded },
        "these keys changed but keep their old values until a restart",
      );
    }
    return { applied: true, ...changes, restartNeeded };
  };
  return (reason) => {
    const run = queue.then(() => once(reason));
    queue = run.catch(() => {});
    return run;
  };
}

/**
 * Calls `onChange` when the file at `path` changes, also when an editor
 * replaces it (write to a temporary name, then rename): the folder is
 * watched, and bursts of events within `debounceMs` count once.
 */
export async function watchFile(
  path: string,
  onChange: () => void,
  debounceMs = 100,
): Promise<{ close(): void }> {
  const file = await Deno.realPath(path);
  const dir = file.slice(0, file.lastIndexOf("/")) || "/";
  const watcher = Deno.watchFs(dir, { recursive: false });
  let timer: ReturnType<typeof setTimeout> | undefined;
  (async () => {
    for await (const event of watcher) {
      if (!event.paths.some((p) => p === file)) continue;
      clearTimeout(timer);
      timer = setTimeout(onChange, debounceMs);
    }
  })().catch(() => {});
  return {
    close() {
      clearTimeout(timer);
      watcher.close();
    },
  };
}

/**
 * A `deno task` run as a user runs it, from the repository root: its
 * arguments from deno.json, and a long-running task as a process whose
 * stderr is collected (the drills' landers, the tests' tasks).
 *
 * @module
 */
import { fileURLToPath as fromFileUrl } from "node:url";

/** The repository root, with a trailing slash. */
export const ROOT = fromFileUrl(new URL("../../", import.meta.url));
const denoJson = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));

/** The arguments after `deno` of a deno.json task (`run <permissions> file`). */
export function taskArgs(task: string): string[] {
  return (denoJson.tasks[task] as string).split(" ").slice(1);
}

/** A long-running `deno task` process whose stderr is collected. */
export interface TaskProcess {
  child: Deno.ChildProcess;
  stderr(): string;
  status: Promise<Deno.CommandStatus>;
  /** Sends `signal` (default SIGTERM) and waits for the exit and the end of stderr. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/**
 * Spawns `deno task <task>` with `args`; resolves once its stderr matches
 * `ready` (rejects, after killing it, if it exits first or the deadline passes).
 */
export async function spawnTask(
  task: string,
  args: string[],
  options: { env?: Record<string, string>; ready: RegExp; timeoutMs?: number },
): Promise<TaskProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...taskArgs(task), ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let err = "";
  const done = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (t) => void (err += t) }),
  ).catch(() => {});
  const status = child.status;
  let exited = null as Deno.CommandStatus | null;
  status.then((s) => (exited = s));
  const stop = async (signal: Deno.Signal = "SIGTERM") => {
    try {
      child.kill(signal);
    } catch { /* already gone */ }
    const s = await status;
    await done;
    return s;
  };
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  try {
    while (!options.ready.test(err)) {
      if (exited) throw new Error(`${task} exited with ${exited.code}:\n${err}`);
      if (Date.now() > deadline) {
        throw new Error(`Timed out waiting for ${task} to log ${options.ready}:\n${err}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (error) {
    await stop("SIGKILL");
    throw error;
  }
  return { child, stderr: () => err, status, stop };
}

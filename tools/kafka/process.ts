/**
 * Processes of the local Kafka: running a command to completion, finding
 * Java, telling whether a pid is alive, signalling it and waiting for its end.
 *
 * @module
 */
import { join } from "node:path";
import { parseVersion } from "./config.ts";
import { readTextOrNull } from "./files.ts";

/** Runs a command to completion, turning "not found" into an install hint. */
export async function run(
  cmd: string,
  args: string[],
  install: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`Cannot find "${cmd}" on PATH: install ${install}`, { cause: error });
    }
    throw error;
  }
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** The last `count` lines of `text`. */
export function lastLines(text: string, count: number): string {
  return text.trimEnd().split("\n").slice(-count).join("\n");
}

function javaCommand(): string {
  const javaHome = Deno.env.get("JAVA_HOME");
  if (javaHome) {
    const java = join(javaHome, "bin", "java");
    try {
      Deno.statSync(java);
      return java;
    } catch {
      // Fall back to PATH.
    }
  }
  return "java";
}

/** Returns the java executable after checking it is new enough for `version`. */
export async function checkJava(version: string): Promise<string> {
  const java = javaCommand();
  const needed = parseVersion(version) >= 4 ? 17 : 11;
  const install = `Java ${needed} or newer (Debian: "apt-get install openjdk-17-jre-headless")`;
  const { stdout, stderr } = await run(java, ["-version"], install);
  const match = /version "(\d+)(?:\.(\d+))?/.exec(stderr + stdout);
  if (!match) throw new Error(`Cannot tell the version of "${java}": ${lastLines(stderr, 3)}`);
  const major = match[1] === "1" ? Number(match[2]) : Number(match[1]);
  if (major < needed) {
    throw new Error(`Kafka ${version} needs ${install}, but "${java}" is Java ${major}`);
  }
  return java;
}

/** Is `pid` a live (not zombie) process? */
export async function isAlive(pid: number): Promise<boolean> {
  if (Deno.build.os === "linux") {
    let stat: string;
    try {
      stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
    const state = stat.charAt(stat.lastIndexOf(")") + 2);
    return state !== "Z" && state !== "X";
  }
  const { success } = await new Deno.Command("kill", {
    args: ["-0", String(pid)],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
  return success;
}

/** The command line of `pid`, its arguments joined by spaces. */
export async function commandLine(pid: number): Promise<string> {
  if (Deno.build.os === "linux") {
    const text = await readTextOrNull(`/proc/${pid}/cmdline`);
    return (text ?? "").replaceAll("\0", " ");
  }
  const { stdout } = await run("ps", ["-o", "command=", "-p", String(pid)], "ps");
  return stdout;
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Sends `signal` to `pid`; a process that is already gone is not an error. */
export async function signal(pid: number, sig: Deno.Signal): Promise<void> {
  try {
    Deno.kill(pid, sig);
  } catch (error) {
    if (await isAlive(pid)) throw error;
  }
}

/** Waits until `pid` has exited; false if it still runs after `timeoutMs`. */
export async function waitForExit(pid: number, timeoutMs = Infinity): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (await isAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await delay(50);
  }
  return true;
}

/** SIGTERM, up to 30 s for a controlled shutdown, then SIGKILL. */
export async function stopPid(pid: number): Promise<void> {
  if (!(await isAlive(pid))) return;
  await signal(pid, "SIGTERM");
  if (await waitForExit(pid, 30_000)) return;
  await signal(pid, "SIGKILL");
  await waitForExit(pid);
}

/** Runs `main.ts` as a real process, the way `deno task serve` does. */

import { type Herald, spawnHerald, taskArgs } from "../tools/drill/herald.ts";

/**
 * The arguments after `deno` of a deno.json task (`run <permissions> file`),
 * so tests run a tool exactly as its task does and the two cannot drift.
 * Shared with the drills, which run Herald the same way.
 */
export { taskArgs };

const SERVE_ARGS = taskArgs("serve");

/** A running Herald process, with its lake folder. */
export interface HeraldProcess extends Herald {
  /** The lake folder (a fresh temp folder unless HERALD_LAKE was given). */
  lake: string;
}

/** Spawns Herald with `args` on a free port; resolves once it logged "listening". */
export async function startHerald(
  args: string[] = [],
  options: { env?: Record<string, string>; readStdout?: boolean } = {},
): Promise<HeraldProcess> {
  const lake = await Deno.makeTempDir({ prefix: "herald-lake-" });
  const herald = await spawnHerald({
    args,
    env: { HERALD_LAKE: lake, ...options.env },
    keepStdout: true,
    readStdout: options.readStdout,
  });
  return { ...herald, lake: options.env?.HERALD_LAKE ?? lake };
}

/** Runs Herald expecting it to exit by itself; returns its exit code and stderr. */
export async function runHeraldToExit(
  args: string[],
): Promise<{ code: number; stderr: string; stdout: string }> {
  const { code, stderr, stdout } = await new Deno.Command(Deno.execPath(), {
    args: [...SERVE_ARGS, ...args],
    env: { NO_COLOR: "1" },
    stdin: "null",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code, stderr: decode(stderr), stdout: decode(stdout) };
}

/** Sends raw bytes over TCP and returns everything the server answered until it closed. */
export async function rawHttp(port: number, request: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(request));
  let out = "";
  for await (const chunk of conn.readable.pipeThrough(new TextDecoderStream())) out += chunk;
  return out;
}

/**
 * `deno task docs`: rewrites the config reference in `docs/config.md` (the
 * tables between its `generated:config` markers) from the schemas, Herald's
 * sections and each registered sink's. `--check` writes nothing and exits 1
 * when the file is not current, naming the command that updates it.
 *
 * @module
 */
import { undocumentedKeys, updateReference } from "../config/docs.ts";
import { configSections } from "../config/sections.ts";
import { SINKS } from "../sinks/mod.ts";

/** The file that holds the generated reference. */
export const CONFIG_DOCS = new URL("../docs/config.md", import.meta.url);

/** Runs the task; resolves with the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  const sections = configSections(SINKS);
  const missing = undocumentedKeys(sections);
  if (missing.length > 0) {
    console.error(`Keys without a description (give them one with doc()): ${missing.join(", ")}`);
    return 1;
  }
  const current = await Deno.readTextFile(CONFIG_DOCS);
  const updated = updateReference(current, sections);
  if (args.includes("--check")) {
    if (updated === current) return 0;
    console.error("docs/config.md is not current: run `deno task docs`");
    return 1;
  }
  if (updated !== current) await Deno.writeTextFile(CONFIG_DOCS, updated);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));

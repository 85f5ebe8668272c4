/**
 * The audit behind `deno task audit`: checks Herald's pinned npm dependencies
 * against npm's advisory database. Deno has no audit of its own for `npm:`
 * imports, so this writes the imports of deno.json as a package.json in a
 * temp folder, lets npm resolve a lockfile there (no install scripts run), and
 * runs `npm audit`.
 *
 * Exit codes: 0 no known advisory, 1 advisories found (listed), 2 the advisory
 * database could not be reached (the reason is printed). It is not part of
 * `deno task ok`, because our CI machines cannot reach the database (npm's
 * bulk advisory endpoint answers 405 through their registry).
 *
 * @module
 */
import { npmImports } from "../../config/versions.ts";

async function npm(args: string[], cwd: string) {
  const out = await new Deno.Command("npm", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/** Runs the audit of deno.json's npm imports; resolves with the exit code. */
export async function audit(): Promise<number> {
  const denoJson = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  const dependencies = npmImports(denoJson);
  const dir = await Deno.makeTempDir({ prefix: "herald-audit-" });
  try {
    await Deno.writeTextFile(
      `${dir}/package.json`,
      JSON.stringify({ name: "herald-audit", private: true, dependencies }),
    );
    const lock = await npm(
      ["install", "--package-lock-only", "--ignore-scripts", "--no-fund"],
      dir,
    );
    if (lock.code !== 0) {
      console.error(`Cannot resolve the dependencies with npm:\n${lock.stderr}`);
      return 2;
    }
    const audit = await npm(["audit", "--json"], dir);
    let report: { vulnerabilities?: Record<string, { severity: string; via: unknown[] }> };
    try {
      report = JSON.parse(audit.stdout);
    } catch {
      report = {};
    }
    const pinned = Object.entries(dependencies).map(([n, v]) => `${n}@${v}`).join(", ");
    if (audit.stderr.includes("audit endpoint returned an error") || !report.vulnerabilities) {
      const reason = audit.stderr.split("\n").find((l) => /audit/.test(l)) ?? audit.stderr.trim();
      console.error(`The advisory database could not be reached: ${reason}\nPinned: ${pinned}`);
      return 2;
    }
    const found = Object.entries(report.vulnerabilities);
    if (found.length === 0) {
      console.log(`No known advisories for ${pinned} and their dependencies.`);
      return 0;
    }
    for (const [name, v] of found) console.log(`${v.severity}: ${name}`);
    return 1;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

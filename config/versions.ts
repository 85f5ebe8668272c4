/**
 * The versions Herald runs with: Deno's own and the npm packages pinned in
 * deno.json, for the startup log line and the dependency audit.
 *
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };

/** `{ name: version }` of every `npm:name@version` import in deno.json. */
export function npmImports(denoJson: { imports?: Record<string, string> }): Record<string, string> {
  const out: Record<string, string> = {};
  for (const specifier of Object.values(denoJson.imports ?? {})) {
    const match = specifier.match(/^npm:\/?((?:@[^/@]+\/)?[^/@]+)@([^/]+)\/?$/);
    if (match) out[match[1]!] = match[2]!;
  }
  return out;
}

/** Deno, V8 and TypeScript versions, then every pinned npm package. */
export function runtimeVersions(): Record<string, string> {
  return { ...Deno.version, ...npmImports(denoJson) };
}

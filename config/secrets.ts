/**
 * Secrets the config names but never holds: write keys and the live page's
 * key come from an env variable or a file. One schema rule refuses a literal
 * value in the YAML, and one reader turns the reference into the value at
 * startup, so a missing secret stops Herald before it serves. A presented
 * secret is compared by digest, without an early exit.
 *
 * @module
 */
import type { Schema } from "./schema.ts";

/** Where a secret's value is read from, injectable for tests. */
export interface SecretSource {
  env(name: string): string | undefined;
  readFile(path: string): string;
}

/** The process's environment and files. */
export const SYSTEM_SECRETS: SecretSource = {
  env: (name) => Deno.env.get(name),
  readFile: (path) => Deno.readTextFileSync(path),
};

/** The keys of a section that names a secret: the refused literal, and its two sources. */
export interface SecretKeys<T> {
  /** The key a value would be written under, refused (`value`, `key`). */
  literal: string;
  env: keyof T & string;
  file: keyof T & string;
  /** Whether one source is required, or the secret is optional. */
  required: boolean;
  /** What the secret is, in the refusal: "a key's value", "the page's key". */
  what: string;
}

/**
 * `fields` with the secret rules: the literal key is refused with a pointer
 * to the two sources, and exactly one (or, when optional, at most one) source
 * is given.
 */
export function withSecret<T extends object>(fields: Schema<T>, keys: SecretKeys<T>): Schema<T> {
  const { literal, env, file, required, what } = keys;
  return {
    ...fields,
    parse(value, path, issues) {
      if (typeof value === "object" && value !== null && Object.hasOwn(value, literal)) {
        issues.push({
          path: [...path, literal],
          message: `${what} never goes in the config: use ${env} or ${file}`,
          key: true,
        });
        return undefined;
      }
      const parsed = fields.parse(value, path, issues);
      if (parsed === undefined) return undefined;
      const given = Number(parsed[env] !== undefined) + Number(parsed[file] !== undefined);
      if (given > 1 || (required && given === 0)) {
        const rule = required ? "exactly one" : "at most one";
        issues.push({ path, message: `give ${rule} of ${env} and ${file}` });
        return undefined;
      }
      return parsed;
    },
  };
}

/**
 * The secret's value from `env` or `file`, trimmed (a file's final newline,
 * or an env file's, is not part of it), or undefined when neither is named.
 * Throws naming `label` and the variable or file when it is unset,
 * unreadable or blank.
 */
export function readSecret(
  label: string,
  ref: { env?: string; file?: string },
  source: SecretSource = SYSTEM_SECRETS,
): string | undefined {
  if (ref.env !== undefined) {
    const text = source.env(ref.env)?.trim();
    if (!text) throw new Error(`${label}: env ${ref.env} is not set`);
    return text;
  }
  if (ref.file === undefined) return undefined;
  let text: string;
  try {
    text = source.readFile(ref.file).trim();
  } catch (error) {
    throw new Error(`${label}: cannot read ${ref.file}: ${(error as Error).message}`);
  }
  if (!text) throw new Error(`${label}: ${ref.file} is empty`);
  return text;
}

/** The SHA-256 digest of `data`, the form a secret is compared in. */
export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data as BufferSource));
}

/** Two digests compared without an early exit (a length difference counts as a difference). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length && i < b.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * A small schema language for YAML config: each schema checks a plain value,
 * reports every problem with its key path, and returns the typed value.
 * Sinks declare their own config section with it, so the spec is the single
 * source for validation, defaults, error messages and the config reference
 * (each key's description is set with {@linkcode doc}).
 *
 * @module
 */

/** Where a value sits in the config, e.g. `["actions", 2, "fields", "strength"]`. */
export type Path = readonly (string | number)[];

/** One problem found in the config. `key` marks problems about a key itself (unknown key). */
export interface Issue {
  path: Path;
  message: string;
  key?: boolean;
}

/** Checks a value at `path`; pushes issues and returns `undefined` when it is invalid. */
export interface Schema<T> {
  parse(value: unknown, path: Path, issues: Issue[]): T | undefined;
  /** Value used when the key is absent; a schema without one makes its key required. */
  readonly fallback?: () => T;
  /** What the key sets: its description in the config reference. */
  readonly doc?: string;
  /** The default as the reference shows it, where the fallback value alone would not say it. */
  readonly shownDefault?: string;
  /** An object schema's keys, so the reference can list them. */
  readonly shape?: Shape;
  /** A list schema's item, so the reference can list the keys of a list of maps. */
  readonly item?: Schema<unknown>;
}

type Shape = Record<string, Schema<unknown>>;

/** The type a schema produces. */
export type Infer<S> = S extends Schema<infer T> ? T : never;

/** Formats a path as `actions[2].fields.strength`. */
export function formatPath(path: Path): string {
  let out = "";
  for (const part of path) {
    out += typeof part === "number" ? `[${part}]` : out === "" ? part : `.${part}`;
  }
  return out;
}

/** Names of actions, tables, event types, fields and write keys. */
export const IDENTIFIER = {
  pattern: /^[a-z][a-z0-9_]*$/,
  hint: "use lowercase letters, digits and _",
};

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a map";
  return `${typeof value} ${JSON.stringify(value)}`;
}

function schema<T>(
  check: (value: unknown, path: Path, issues: Issue[]) => T | undefined,
): Schema<T> {
  return { parse: check };
}

/** Gives a schema a default, which makes its key optional. */
export function withDefault<T>(inner: Schema<T>, fallback: T | (() => T)): Schema<T> {
  const make = typeof fallback === "function" ? fallback as () => T : () => fallback;
  return { ...inner, fallback: make };
}

/** Makes a key optional without a default. */
export function optional<T>(inner: Schema<T>): Schema<T | undefined> {
  return { ...inner, fallback: () => undefined };
}

/**
 * Describes a key for the config reference. `default` says how the reference
 * shows the default when the value alone would not (`/<name>`, `(off)`).
 */
export function doc<S extends Schema<unknown>>(
  inner: S,
  text: string,
  options: { default?: string } = {},
): S {
  return { ...inner, doc: text, shownDefault: options.default };
}

/**
 * Values as inline code for a description: "`a`, `b` or `c`"; `last` joins the
 * last two (`", "` for a plain list).
 */
export function codeList(values: readonly string[], last = " or "): string {
  const codes = values.map((v) => `\`${v}\``);
  return codes.length < 2
    ? codes.join("")
    : `${codes.slice(0, -1).join(", ")}${last}${codes.at(-1)}`;
}

/** A string, optionally restricted to a set of values or a pattern. */
export function string<V extends string = string>(
  options: { values?: readonly V[]; pattern?: RegExp; hint?: string; minLength?: number } = {},
): Schema<V> {
  return schema<V>((value, path, issues) => {
    if (typeof value !== "string") {
      issues.push({ path, message: `expected a string, got ${describe(value)}` });
      return undefined;
    }
    if (options.values && !(options.values as readonly string[]).includes(value)) {
      const allowed = options.values.map((v) => `"${v}"`).join(", ");
      issues.push({ path, message: `unknown value "${value}" (expected one of ${allowed})` });
      return undefined;
    }
    if (options.pattern && !options.pattern.test(value)) {
      issues.push({ path, message: `invalid value "${value}": ${options.hint ?? "bad format"}` });
      return undefined;
    }
    if (options.minLength !== undefined && value.length < options.minLength) {
      issues.push({ path, message: `must not be empty` });
      return undefined;
    }
    // Checked against `values` when they are given; any string otherwise.
    return value as V;
  });
}

/** A number; `integer: true` rejects fractions. */
export function number(
  options: { integer?: boolean; min?: number; max?: number } = {},
): Schema<number> {
  return schema((value, path, issues) => {
    if (typeof value !== "number" || !Number.isFinite(value)) {
      issues.push({ path, message: `expected a number, got ${describe(value)}` });
      return undefined;
    }
    if (options.integer && !Number.isInteger(value)) {
      issues.push({ path, message: `expected an integer, got ${value}` });
      return undefined;
    }
    if (options.min !== undefined && value < options.min) {
      issues.push({ path, message: `must be at least ${options.min}, got ${value}` });
      return undefined;
    }
    if (options.max !== undefined && value > options.max) {
      issues.push({ path, message: `must be at most ${options.max}, got ${value}` });
      return undefined;
    }
    return value;
  });
}

/** A positive integer: sizes, counts and durations. */
export function positiveInt(max = Number.MAX_SAFE_INTEGER): Schema<number> {
  return number({ integer: true, min: 1, max });
}

/** `true` or `false`. */
export function boolean(): Schema<boolean> {
  return schema((value, path, issues) => {
    if (typeof value !== "boolean") {
      issues.push({ path, message: `expected true or false, got ${describe(value)}` });
      return undefined;
    }
    return value;
  });
}

/** Any scalar (string, number, boolean); used for constants checked later against a type. */
export function scalar(): Schema<string | number | boolean> {
  return schema((value, path, issues) => {
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
      return value;
    }
    issues.push({ path, message: `expected a string, number or boolean, got ${describe(value)}` });
    return undefined;
  });
}

/** A list whose items all match `item`. */
export function list<T>(item: Schema<T>, options: { min?: number } = {}): Schema<T[]> {
  const check = (value: unknown, path: Path, issues: Issue[]): T[] | undefined => {
    if (!Array.isArray(value)) {
      issues.push({ path, message: `expected a list, got ${describe(value)}` });
      return undefined;
    }
    if (options.min !== undefined && value.length < options.min) {
      issues.push({ path, message: `must have at least ${options.min} item(s)` });
      return undefined;
    }
    const out: T[] = [];
    let ok = true;
    value.forEach((v, i) => {
      const parsed = item.parse(v, [...path, i], issues);
      if (parsed === undefined) ok = false;
      else out.push(parsed);
    });
    return ok ? out : undefined;
  };
  return { parse: check, item };
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A map with arbitrary keys whose values all match `item`. */
export function record<T>(item: Schema<T>): Schema<Record<string, T>> {
  return schema((value, path, issues) => {
    if (!isMap(value)) {
      issues.push({ path, message: `expected a map, got ${describe(value)}` });
      return undefined;
    }
    const out: Record<string, T> = {};
    let ok = true;
    for (const [key, v] of Object.entries(value)) {
      const parsed = item.parse(v, [...path, key], issues);
      if (parsed === undefined) ok = false;
      else out[key] = parsed;
    }
    return ok ? out : undefined;
  });
}

type ObjectOf<S extends Shape> = { [K in keyof S]: Infer<S[K]> };

/**
 * A map with a fixed set of keys. Unknown keys are errors; absent keys take the
 * schema's default or are reported as missing. An absent or `null` section with
 * defaults for every key parses as all defaults.
 */
export function object<S extends Shape>(shape: S): Schema<ObjectOf<S>> {
  const check = (value: unknown, path: Path, issues: Issue[]): ObjectOf<S> | undefined => {
    const input = value === null ? {} : value;
    if (!isMap(input)) {
      issues.push({ path, message: `expected a map, got ${describe(value)}` });
      return undefined;
    }
    const out: Record<string, unknown> = {};
    let ok = true;
    for (const key of Object.keys(input)) {
      if (!Object.hasOwn(shape, key)) {
        const known = Object.keys(shape).join(", ");
        issues.push({
          path: [...path, key],
          message: `unknown key (expected ${known})`,
          key: true,
        });
        ok = false;
      }
    }
    for (const [key, inner] of Object.entries(shape)) {
      if (!Object.hasOwn(input, key)) {
        if (inner.fallback) out[key] = inner.fallback();
        else {
          issues.push({ path, message: `missing required key "${key}"` });
          ok = false;
        }
        continue;
      }
      const parsed = inner.parse(input[key], [...path, key], issues);
      if (parsed === undefined && input[key] !== undefined) ok = false;
      out[key] = parsed;
    }
    return ok ? out as ObjectOf<S> : undefined;
  };
  const allDefaults = Object.values(shape).every((inner) => inner.fallback);
  return allDefaults
    ? { parse: check, shape, fallback: () => check({}, [], [])! }
    : { parse: check, shape };
}

/**
 * Typed event fields: their config spec, and the one coercion routine used for
 * request values, config defaults and constants alike.
 *
 * @module
 */
import { type Issue, number, object, optional, type Path } from "./schema.ts";

/** The types a field can have; each maps to one typed Parquet column. */
export const FIELD_TYPES = ["string", "int", "float", "bool", "enum", "timestamp"] as const;
/** One of {@linkcode FIELD_TYPES}. */
export type FieldType = typeof FIELD_TYPES[number];
/** A field's value inside an event. Timestamps are ISO 8601 UTC strings. */
export type FieldValue = string | number | boolean;

/** How a generated field draws its value. */
export type Generator =
  | { kind: "normal"; mean: number; sigma: number; min?: number; max?: number }
  | { kind: "uniform"; min: number; max: number };

/** A validated field: where its value comes from and what it must look like. */
export interface FieldSpec {
  name: string;
  type: FieldType;
  /** `request`: from the query string or JSON body; `constant`; `generated`. */
  source: "request" | "constant" | "generated";
  required: boolean;
  default?: FieldValue;
  value?: FieldValue;
  generate?: Generator;
  min?: number;
  max?: number;
  maxLength?: number;
  values?: readonly string[];
  description?: string;
}

const INT_PATTERN = /^[+-]?\d+$/;
const FLOAT_PATTERN = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const ISO_PATTERN = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * Coerces one raw value to the field's type and checks its limits. `fromText`
 * says the value came from a query string, where everything is text.
 * Returns the value, or a problem phrased to follow the field name.
 */
export function coerceField(
  spec: FieldSpec,
  raw: unknown,
  fromText: boolean,
): { value: FieldValue } | { problem: string } {
  switch (spec.type) {
    case "string":
    case "enum": {
      if (typeof raw !== "string") return { problem: "must be a string" };
      if (spec.values && !spec.values.includes(raw)) {
        return { problem: `must be one of ${spec.values.map((v) => `"${v}"`).join(", ")}` };
      }
      if (spec.maxLength !== undefined && [...raw].length > spec.maxLength) {
        return { problem: `must be at most ${spec.maxLength} characters` };
      }
      return { value: raw };
    }
    case "int":
    case "float": {
      const integer = spec.type === "int";
      let n: number;
      if (typeof raw === "number") n = raw;
      else if (
        fromText && typeof raw === "string" && (integer ? INT_PATTERN : FLOAT_PATTERN).test(raw)
      ) {
        n = Number(raw);
      } else return { problem: integer ? "must be an integer" : "must be a number" };
      if (!Number.isFinite(n) || (integer && !Number.isSafeInteger(n))) {
        return { problem: integer ? "must be an integer" : "must be a finite number" };
      }
      if (spec.min !== undefined && n < spec.min) {
        return { problem: `must be at least ${spec.min}` };
      }
      if (spec.max !== undefined && n > spec.max) return { problem: `must be at most ${spec.max}` };
      return { value: n };
    }
    case "bool": {
      if (typeof raw === "boolean") return { value: raw };
      if (fromText && (raw === "true" || raw === "1")) return { value: true };
      if (fromText && (raw === "false" || raw === "0")) return { value: false };
      return { problem: "must be true or false" };
    }
    case "timestamp": {
      let ms = NaN;
      if (typeof raw === "number" && Number.isSafeInteger(raw)) ms = raw;
      else if (typeof raw === "string" && ISO_PATTERN.test(raw)) ms = Date.parse(raw);
      else if (fromText && typeof raw === "string" && INT_PATTERN.test(raw)) ms = Number(raw);
      const date = new Date(ms);
      if (Number.isNaN(date.getTime())) {
        return { problem: "must be an ISO 8601 date-time or epoch milliseconds" };
      }
      return { value: date.toISOString() };
    }
  }
}

const finite = number();
const generatorSchemas = {
  normal: object({
    mean: finite,
    sigma: number({ min: 0 }),
    min: optional(finite),
    max: optional(finite),
  }),
  uniform: object({ min: finite, max: finite }),
};

const FIELD_KEYS = [
  "type",
  "description",
  "required",
  "default",
  "min",
  "max",
  "max_length",
  "values",
  "value",
  "generate",
] as const;

/** Parses one field's config map; pushes issues and returns `undefined` when invalid. */
export function parseFieldSpec(
  name: string,
  raw: unknown,
  path: Path,
  issues: Issue[],
): FieldSpec | undefined {
  const before = issues.length;
  const problem = (key: string | null, message: string, isKey = false) =>
    issues.push({ path: key === null ? path : [...path, key], message, key: isKey });
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    problem(null, 'expected a map with at least a "type"');
    return undefined;
  }
  const input = raw as Record<string, unknown>;
  for (const key of Object.keys(input)) {
    if (!(FIELD_KEYS as readonly string[]).includes(key)) {
      problem(key, `unknown key (expected ${FIELD_KEYS.join(", ")})`, true);
    }
  }
  const type = input.type;
  if (typeof type !== "string" || !(FIELD_TYPES as readonly string[]).includes(type)) {
    const got = type === undefined ? "missing type" : `unknown type ${JSON.stringify(type)}`;
    problem("type", `${got} (expected one of ${FIELD_TYPES.join(", ")})`);
    return undefined;
  }
  const spec: FieldSpec = { name, type: type as FieldType, source: "request", required: false };
  const numeric = type === "int" || type === "float";

  if (input.description !== undefined) {
    if (typeof input.description === "string") spec.description = input.description;
    else problem("description", "expected a string");
  }
  for (const key of ["min", "max"] as const) {
    if (input[key] === undefined) continue;
    if (!numeric) problem(key, `only applies to int and float fields`);
    else spec[key] = finite.parse(input[key], [...path, key], issues);
  }
  if (spec.min !== undefined && spec.max !== undefined && spec.min > spec.max) {
    problem("max", `must not be below min (${spec.min})`);
  }
  if (input.max_length !== undefined) {
    if (type !== "string") problem("max_length", "only applies to string fields");
    else {spec.maxLength = number({ integer: true, min: 1 }).parse(input.max_length, [
        ...path,
        "max_length",
      ], issues);}
  }
  if (type === "enum") {
    const values = input.values;
    if (
      !Array.isArray(values) || values.length === 0 || !values.every((v) => typeof v === "string")
    ) {
      problem("values", "an enum field needs a non-empty list of strings");
    } else spec.values = values;
  } else if (input.values !== undefined) problem("values", "only applies to enum fields");

  const sources = (["value", "generate", "default"] as const).filter((k) => input[k] !== undefined);
  if (sources.length > 1) {
    problem(sources[1]!, `cannot be combined with "${sources[0]}"`);
  }
  if (input.required !== undefined) {
    if (typeof input.required !== "boolean") problem("required", "expected true or false");
    else if (input.required && sources.length > 0) {
      problem("required", `a required field cannot have "${sources[0]}"`);
    } else spec.required = input.required;
  }
  if (input.generate !== undefined) {
    if (!numeric) problem("generate", "only int and float fields can be generated");
    else spec.generate = parseGenerator(input.generate, [...path, "generate"], issues);
    spec.source = "generated";
  }
  for (const key of ["value", "default"] as const) {
    if (input[key] === undefined || issues.length > before) continue;
    const result = coerceField(spec, input[key], false);
    if ("problem" in result) problem(key, result.problem);
    else spec[key] = result.value;
    if (key === "value") spec.source = "constant";
  }
  return issues.length > before ? undefined : spec;
}

function parseGenerator(raw: unknown, path: Path, issues: Issue[]): Generator | undefined {
  const kinds = Object.keys(generatorSchemas);
  const entries = typeof raw === "object" && raw !== null ? Object.entries(raw) : [];
  const [kind, options] = entries[0] ?? [];
  if (entries.length !== 1 || !kind || !kinds.includes(kind)) {
    issues.push({ path, message: `expected exactly one of ${kinds.join(", ")}` });
    return undefined;
  }
  const parsed = generatorSchemas[kind as keyof typeof generatorSchemas].parse(
    options,
    [...path, kind],
    issues,
  );
  return parsed ? { kind, ...parsed } as Generator : undefined;
}

/** Draws a generated value; `random` returns numbers in [0, 1). */
export function generateValue(spec: FieldSpec, random: () => number = Math.random): number {
  const g = spec.generate!;
  let x: number;
  if (g.kind === "uniform") x = g.min + random() * (g.max - g.min);
  else {
    // Box-Muller: two uniforms give one standard normal draw.
    const u = 1 - random();
    const v = random();
    x = g.mean + g.sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    if (g.min !== undefined) x = Math.max(g.min, x);
    if (g.max !== undefined) x = Math.min(g.max, x);
  }
  return spec.type === "int" ? Math.round(x) : x;
}

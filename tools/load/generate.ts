/**
 * Request generation: valid random input for each action of the config, the
 * fake users' `Host` headers, and the HTTP/1.1 bytes of each request, written
 * into a buffer that is reused from one request to the next.
 *
 * @module
 */
import type { FieldSpec } from "../../config/fields.ts";
import type { ActionConfig } from "../../config/mod.ts";
import type { LoadPlan } from "./options.ts";

const USER_NAMES = ["user", "knight", "mage", "archer", "rogue"];
const USER_DOMAINS = ["comcast.com", "yahoo.com", "gmail.com", "verizon.net"];

/**
 * The `Host` header of each of `n` fake users, all different:
 * `user1.comcast.com`, `knight1.yahoo.com`, `mage1.gmail.com`, ...
 */
export function userHosts(n: number): string[] {
  return Array.from(
    { length: n },
    (_, i) =>
      `${USER_NAMES[i % USER_NAMES.length]}${Math.floor(i / USER_NAMES.length) + 1}.${
        USER_DOMAINS[i % USER_DOMAINS.length]
      }`,
  );
}

/** How often an optional field is left out, so that its default is used. */
export const OMIT_PROBABILITY = 0.5;
const DEFAULT_MIN = 0;
const DEFAULT_MAX = 100;
const MAX_STRING_LENGTH = 32;
const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

interface FieldGenerator {
  name: string;
  optional: boolean;
  /** The value as JSON text. */
  json(random: () => number): string;
  /** The value as query-string text, already encoded. */
  text(random: () => number): string;
}

function numericRange(spec: FieldSpec): [number, number] {
  const lo = spec.min ??
    (spec.max !== undefined && spec.max < DEFAULT_MIN ? spec.max - DEFAULT_MAX : DEFAULT_MIN);
  const hi = spec.max ?? (lo > DEFAULT_MAX ? lo + DEFAULT_MAX : DEFAULT_MAX);
  return [lo, hi];
}

function fieldGenerator(spec: FieldSpec): FieldGenerator {
  const base = { name: spec.name, optional: !spec.required };
  switch (spec.type) {
    case "enum": {
      const values = spec.values ?? [];
      const json = values.map((v) => JSON.stringify(v));
      const text = values.map((v) => encodeURIComponent(v));
      const at = (random: () => number) => Math.floor(random() * values.length);
      return { ...base, json: (r) => json[at(r)]!, text: (r) => text[at(r)]! };
    }
    case "string": {
      const longest = Math.min(spec.maxLength ?? MAX_STRING_LENGTH, MAX_STRING_LENGTH);
      const draw = (random: () => number) => {
        let s = "";
        for (let n = 1 + Math.floor(random() * longest); n > 0; n--) {
          s += ALPHABET[Math.floor(random() * ALPHABET.length)];
        }
        return s;
      };
      return { ...base, json: (r) => `"${draw(r)}"`, text: draw };
    }
    case "int": {
      const [lo, hi] = numericRange(spec);
      const min = Math.max(Math.ceil(lo), Number.MIN_SAFE_INTEGER);
      const max = Math.min(Math.floor(hi), Number.MAX_SAFE_INTEGER);
      const draw = (random: () => number) =>
        String(Math.min(max, min + Math.floor(random() * (max - min + 1))));
      return { ...base, json: draw, text: draw };
    }
    case "float": {
      const [lo, hi] = numericRange(spec);
      const draw = (random: () => number) => String(lo + random() * (hi - lo));
      return { ...base, json: draw, text: (r) => encodeURIComponent(draw(r)) };
    }
    case "bool": {
      const draw = (random: () => number) => (random() < 0.5 ? "true" : "false");
      return { ...base, json: draw, text: draw };
    }
    case "timestamp": {
      const draw = () => new Date().toISOString();
      return { ...base, json: () => `"${draw()}"`, text: draw };
    }
  }
}

/**
 * Draws valid random input for one action: every request field (never the
 * constant or generated ones, which the server rejects), each optional one left
 * out with probability {@linkcode OMIT_PROBABILITY}. Enums take one of their
 * values, ints and floats stay within `min`/`max` (0 to 100 by default), strings
 * are 1 to 32 characters of `a-z0-9` within `max_length`, timestamps are now.
 */
export class ActionGenerator {
  /** The action the input is for. */
  readonly action: ActionConfig;
  readonly #fields: FieldGenerator[];
  readonly #itemPrefix: string;

  constructor(action: ActionConfig) {
    this.action = action;
    this.#fields = action.fields.filter((f) => f.source === "request").map(fieldGenerator);
    this.#itemPrefix = `{"action":${JSON.stringify(action.name)}`;
  }

  /** A query string for `GET` (without `?`; empty when no field is sent). */
  query(random: () => number = Math.random): string {
    let out = "";
    for (const field of this.#fields) {
      if (field.optional && random() < OMIT_PROBABILITY) continue;
      out += `${out === "" ? "" : "&"}${field.name}=${field.text(random)}`;
    }
    return out;
  }

  /** One batch item as JSON text: `{"action": name, ...fields}`. */
  item(random: () => number = Math.random): string {
    let out = this.#itemPrefix;
    for (const field of this.#fields) {
      if (field.optional && random() < OMIT_PROBABILITY) continue;
      out += `,"${field.name}":${field.json(random)}`;
    }
    return `${out}}`;
  }
}

const COMMON_HEADERS = "User-Agent: herald-load\r\nAccept: */*\r\n";

/**
 * The bytes of each request of a run: a `GET` of an action picked by weight
 * or a `POST /events` of `batch` items, from a random fake user. Each builder
 * writes into its own buffer, so the bytes it returns are valid until its next
 * call; give each connection a builder of its own.
 */
export class RequestBuilder {
  readonly #plan: LoadPlan;
  readonly #generators: ActionGenerator[];
  readonly #getPrefixes: string[];
  readonly #cumulative: number[];
  readonly #totalWeight: number;
  readonly #hosts: string[];
  readonly #contentType: string;
  readonly #reserve: number;
  readonly #encoder = new TextEncoder();
  #out: Uint8Array;
  readonly #head: Uint8Array;

  constructor(plan: LoadPlan) {
    const { mix, target } = plan;
    this.#plan = plan;
    this.#generators = mix.map((m) => new ActionGenerator(m.action));
    this.#getPrefixes = mix.map((m) => `GET ${target.basePath}${m.action.path}`);
    this.#totalWeight = mix.reduce((sum, m) => sum + m.weight, 0);
    this.#cumulative = mix.map((_, i) => mix.slice(0, i + 1).reduce((s, m) => s + m.weight, 0));
    this.#hosts = userHosts(plan.users);
    this.#contentType = plan.batchFormat === "json" ? "application/json" : "application/x-ndjson";
    this.#reserve = 1024 + 3 * target.basePath.length;
    this.#out = new Uint8Array(plan.batch > 0 ? this.#reserve + 64 * 1024 : 4096);
    this.#head = new Uint8Array(this.#reserve);
  }

  /** The next request: a batch when the plan has one, else a `GET`. */
  next(): Uint8Array {
    return this.#plan.batch > 0 ? this.#batch() : this.#get();
  }

  #pick(): number {
    const x = this.#plan.random() * this.#totalWeight;
    const cumulative = this.#cumulative;
    let i = 0;
    while (i < cumulative.length - 1 && x >= cumulative[i]!) i++;
    return i;
  }

  #host(): string {
    return this.#hosts[Math.floor(this.#plan.random() * this.#hosts.length)]!;
  }

  /** Writes `text` at `offset`, growing the buffer as needed; returns the bytes written. */
  #encode(text: string, offset: number): number {
    for (;;) {
      const view = offset === 0 ? this.#out : this.#out.subarray(offset);
      const { read, written } = this.#encoder.encodeInto(text, view);
      if (read === text.length) return written;
      const grown = new Uint8Array(this.#out.length * 2 + text.length * 3);
      grown.set(this.#out.subarray(0, offset));
      this.#out = grown;
    }
  }

  #get(): Uint8Array {
    const i = this.#pick();
    const query = this.#generators[i]!.query(this.#plan.random);
    const text = `${this.#getPrefixes[i]}${
      query === "" ? "" : `?${query}`
    } HTTP/1.1\r\nHost: ${this.#host()}\r\n${COMMON_HEADERS}\r\n`;
    return this.#out.subarray(0, this.#encode(text, 0));
  }

  #batch(): Uint8Array {
    const { batch, batchFormat, random, target } = this.#plan;
    let body = batchFormat === "json" ? "[" : "";
    const separator = batchFormat === "json" ? "," : "\n";
    for (let k = 0; k < batch; k++) {
      if (k > 0) body += separator;
      body += this.#generators[this.#pick()]!.item(random);
    }
    body += batchFormat === "json" ? "]" : "\n";
    const reserve = this.#reserve;
    const bodyLength = this.#encode(body, reserve);
    const head = `POST ${target.basePath}/events HTTP/1.1\r\nHost: ${this.#host()}\r\n` +
      `${COMMON_HEADERS}Content-Type: ${this.#contentType}\r\nContent-Length: ${bodyLength}\r\n\r\n`;
    const headLength = this.#encoder.encodeInto(head, this.#head).written;
    this.#out.set(this.#head.subarray(0, headLength), reserve - headLength);
    return this.#out.subarray(reserve - headLength, reserve + bodyLength);
  }
}

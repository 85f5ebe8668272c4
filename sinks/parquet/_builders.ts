/**
 * The column builders behind {@linkcode ColumnarBuffer}: one per Arrow type,
 * each filling growing typed arrays in Arrow's memory layout.
 *
 * @module
 */
import {
  Bool,
  type Data,
  type DataType,
  Float64,
  Int64,
  makeData,
  TimestampMillisecond,
  Utf8,
} from "apache-arrow";
import type { Column } from "./file.ts";
import { discard } from "../io.ts";

const encoder = new TextEncoder();

function grow<T extends Uint8Array | Int32Array | Float64Array | BigInt64Array>(
  array: T,
  needed: number,
): T {
  if (needed <= array.length) return array;
  const next = new (array.constructor as new (n: number) => T)(Math.max(needed, array.length * 2));
  next.set(array as never);
  discard(array);
  return next;
}

/** One column being filled. */
export interface Builder {
  readonly type: DataType;
  append(value: unknown): void;
  /** The values as Arrow data: copies, or views valid until the next append. */
  finish(length: number, view: boolean): Data;
  /** Empties the builder, keeping its memory. */
  reset(): void;
  readonly bytes: number;
}

const cut = <T extends Uint8Array | Int32Array | Float64Array | BigInt64Array>(
  array: T,
  end: number,
  view: boolean,
): T => (view ? array.subarray(0, end) : array.slice(0, end)) as T;

class Validity {
  bits = new Uint8Array(64);
  nulls = 0;
  set(i: number, valid: boolean): void {
    this.bits = grow(this.bits, (i >> 3) + 1);
    if (valid) this.bits[i >> 3]! |= 1 << (i & 7);
    else this.nulls++;
  }
  finish(length: number, view: boolean): Uint8Array | undefined {
    return this.nulls === 0 ? undefined : cut(this.bits, (length + 7) >> 3, view);
  }
  reset(): void {
    this.bits.fill(0);
    this.nulls = 0;
  }
}

class Utf8Builder implements Builder {
  readonly type = new Utf8();
  #offsets = new Int32Array(1024);
  #data = new Uint8Array(16 * 1024);
  #validity = new Validity();
  #length = 0;

  append(value: unknown): void {
    const i = this.#length++;
    const start = this.#offsets[i]!;
    let end = start;
    if (value !== null && value !== undefined) {
      const text = typeof value === "string" ? value : String(value);
      const data = this.#data = grow(this.#data, start + text.length * 3);
      // Most values are short ASCII: copying their char codes beats a
      // TextEncoder call (and the view it needs) per value.
      for (let c = 0; c < text.length; c++) {
        const code = text.charCodeAt(c);
        if (code >= 0x80) {
          end = start + encoder.encodeInto(text, data.subarray(start)).written;
          break;
        }
        data[end++] = code;
      }
    }
    this.#validity.set(i, value !== null && value !== undefined);
    this.#offsets = grow(this.#offsets, i + 2);
    this.#offsets[i + 1] = end;
  }

  get bytes(): number {
    return this.#offsets[this.#length]! + this.#length * 4;
  }

  finish(length: number, view: boolean): Data {
    return makeData({
      type: this.type,
      length,
      nullCount: this.#validity.nulls,
      nullBitmap: this.#validity.finish(length, view),
      valueOffsets: cut(this.#offsets, length + 1, view),
      data: cut(this.#data, this.#offsets[length]!, view),
    });
  }

  reset(): void {
    this.#length = 0;
    this.#validity.reset();
  }
}

/** Floats, or 64-bit ints (written as two 32-bit words: no BigInt per value). */
class FixedBuilder implements Builder {
  readonly type: DataType;
  #values: Float64Array | Int32Array;
  #convert: (value: unknown) => number | null;
  #validity = new Validity();
  #length = 0;

  constructor(type: DataType, convert: (value: unknown) => number | null) {
    this.type = type;
    this.#values = type instanceof Float64 ? new Float64Array(256) : new Int32Array(512);
    this.#convert = convert;
  }

  append(value: unknown): void {
    const i = this.#length++;
    const v = value === null || value === undefined ? null : this.#convert(value);
    const values = this.#values;
    if (values instanceof Float64Array) {
      const floats = this.#values = grow(values, i + 1);
      if (v !== null) floats[i] = v;
    } else {
      const words = this.#values = grow(values, 2 * i + 2);
      if (v !== null) {
        const high = Math.floor(v / 4294967296);
        words[2 * i] = v - high * 4294967296; // Little-endian: the low word first.
        words[2 * i + 1] = high;
      }
    }
    this.#validity.set(i, v !== null);
  }

  get bytes(): number {
    return this.#length * 8;
  }

  finish(length: number, view: boolean): Data {
    const values = this.#values;
    const data = values instanceof Float64Array
      ? cut(values, length, view)
      : new BigInt64Array(cut(values, 2 * length, view).buffer, 0, length);
    return makeData({
      type: this.type as Float64,
      length,
      nullCount: this.#validity.nulls,
      nullBitmap: this.#validity.finish(length, view),
      data: data as Float64Array,
    });
  }

  reset(): void {
    this.#length = 0;
    this.#validity.reset();
  }
}

class BoolBuilder implements Builder {
  readonly type = new Bool();
  #values = new Validity();
  #validity = new Validity();
  #length = 0;

  append(value: unknown): void {
    const i = this.#length++;
    const valid = typeof value === "boolean";
    this.#values.set(i, value === true);
    this.#validity.set(i, valid);
  }

  get bytes(): number {
    return this.#length >> 2;
  }

  finish(length: number, view: boolean): Data {
    return makeData({
      type: this.type,
      length,
      nullCount: this.#validity.nulls,
      nullBitmap: this.#validity.finish(length, view),
      data: cut(this.#values.bits, (length + 7) >> 3, view),
    });
  }

  reset(): void {
    this.#length = 0;
    this.#values.reset();
    this.#validity.reset();
  }
}

const toInt = (v: unknown) => typeof v === "number" && Number.isFinite(v) ? Math.trunc(v) : null;
const toFloat = (v: unknown) => typeof v === "number" ? v : null;
const toMillis = (v: unknown) => {
  const ms = typeof v === "string" ? isoMillis(v) : typeof v === "number" ? v : NaN;
  return Number.isFinite(ms) ? Math.trunc(ms) : null;
};

// Events of one second share the text of their time up to the second, so
// its parse is cached and only the milliseconds are read per event.
let secondText = "\0";
let secondMillis = NaN;

/** `Date.parse(text)`, fast for `YYYY-MM-DDTHH:MM:SS.sssZ`. */
function isoMillis(text: string): number {
  if (text.length !== 24 || text.charCodeAt(19) !== 46 || text.charCodeAt(23) !== 90) {
    return Date.parse(text);
  }
  const a = text.charCodeAt(20) - 48, b = text.charCodeAt(21) - 48, c = text.charCodeAt(22) - 48;
  if (!(a >= 0 && a <= 9 && b >= 0 && b <= 9 && c >= 0 && c <= 9)) return Date.parse(text);
  if (!text.startsWith(secondText)) {
    secondText = text.slice(0, 19);
    secondMillis = Date.parse(`${secondText}.000Z`);
  }
  return secondMillis + a * 100 + b * 10 + c;
}

/** A builder for the type of `column`. */
export function builderFor(column: Column): Builder {
  switch (column.type) {
    case "int":
      return new FixedBuilder(new Int64(), toInt);
    case "float":
      return new FixedBuilder(new Float64(), toFloat);
    case "timestamp":
      return new FixedBuilder(new TimestampMillisecond("UTC"), toMillis);
    case "bool":
      return new BoolBuilder();
    default:
      return new Utf8Builder();
  }
}

/**
 * Column buffers in Arrow's memory layout. Events are appended one at a time
 * into growing typed arrays (UTF-8 bytes and offsets for text, 64-bit values
 * for ints and timestamps, bits for booleans and validity), so a buffered
 * event costs about its encoded size, lives outside the JS heap, and turning
 * a buffer into an Arrow table copies no values.
 *
 * @module
 */
import {
  Bool,
  type Data,
  type DataType,
  Field,
  Float64,
  Int64,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  Table,
  TimestampMillisecond,
  Utf8,
} from "apache-arrow";
import type { Column } from "./file.ts";
import type { Event } from "../contract.ts";

const encoder = new TextEncoder();

function grow<T extends Uint8Array | Int32Array | Float64Array | BigInt64Array>(
  array: T,
  needed: number,
): T {
  if (needed <= array.length) return array;
  const next = new (array.constructor as new (n: number) => T)(Math.max(needed, array.length * 2));
  next.set(array as never);
  return next;
}

/** One column being filled. */
interface Builder {
  readonly type: DataType;
  append(value: unknown): void;
  finish(length: number): Data;
  readonly bytes: number;
}

class Validity {
  bits = new Uint8Array(64);
  nulls = 0;
  set(i: number, valid: boolean): void {
    this.bits = grow(this.bits, (i >> 3) + 1);
    if (valid) this.bits[i >> 3]! |= 1 << (i & 7);
    else this.nulls++;
  }
  finish(length: number): Uint8Array | undefined {
    return this.nulls === 0 ? undefined : this.bits.slice(0, (length + 7) >> 3);
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
      this.#data = grow(this.#data, start + text.length * 3);
      end = start + encoder.encodeInto(text, this.#data.subarray(start)).written;
    }
    this.#validity.set(i, value !== null && value !== undefined);
    this.#offsets = grow(this.#offsets, i + 2);
    this.#offsets[i + 1] = end;
  }

  get bytes(): number {
    return this.#offsets[this.#length]! + this.#length * 4;
  }

  finish(length: number): Data {
    const valueOffsets = this.#offsets.slice(0, length + 1);
    return makeData({
      type: this.type,
      length,
      nullCount: this.#validity.nulls,
      nullBitmap: this.#validity.finish(length),
      valueOffsets,
      data: this.#data.slice(0, valueOffsets[length]),
    });
  }
}

class FixedBuilder<T extends Float64Array | BigInt64Array> implements Builder {
  readonly type: DataType;
  #values: T;
  #convert: (value: unknown) => number | bigint | null;
  #validity = new Validity();
  #length = 0;

  constructor(type: DataType, values: T, convert: (value: unknown) => number | bigint | null) {
    this.type = type;
    this.#values = values;
    this.#convert = convert;
  }

  append(value: unknown): void {
    const i = this.#length++;
    const v = value === null || value === undefined ? null : this.#convert(value);
    this.#values = grow(this.#values, i + 1);
    if (v !== null) this.#values[i] = v as never;
    this.#validity.set(i, v !== null);
  }

  get bytes(): number {
    return this.#length * 8;
  }

  finish(length: number): Data {
    return makeData({
      type: this.type as Float64,
      length,
      nullCount: this.#validity.nulls,
      nullBitmap: this.#validity.finish(length),
      data: this.#values.slice(0, length) as unknown as Float64Array,
    });
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

  finish(length: number): Data {
    return makeData({
      type: this.type,
      length,
      nullCount: this.#validity.nulls,
      nullBitmap: this.#validity.finish(length),
      data: this.#values.bits.slice(0, (length + 7) >> 3),
    });
  }
}

const toInt = (v: unknown) =>
  typeof v === "number" && Number.isFinite(v) ? BigInt(Math.trunc(v)) : null;
const toFloat = (v: unknown) => typeof v === "number" ? v : null;
const toMillis = (v: unknown) => {
  const ms = typeof v === "string" ? Date.parse(v) : typeof v === "number" ? v : NaN;
  return Number.isFinite(ms) ? BigInt(ms) : null;
};

function builderFor(column: Column): Builder {
  switch (column.type) {
    case "int":
      return new FixedBuilder(new Int64(), new BigInt64Array(256), toInt);
    case "float":
      return new FixedBuilder(new Float64(), new Float64Array(256), toFloat);
    case "timestamp":
      return new FixedBuilder(new TimestampMillisecond("UTC"), new BigInt64Array(256), toMillis);
    case "bool":
      return new BoolBuilder();
    default:
      return new Utf8Builder();
  }
}

/** Events of one table partition, held column by column until they become a file. */
export class ColumnarBuffer {
  readonly columns: readonly Column[];
  #builders: Builder[];
  #length = 0;

  constructor(columns: readonly Column[]) {
    this.columns = columns;
    this.#builders = columns.map(builderFor);
  }

  /** Events appended so far. */
  get length(): number {
    return this.#length;
  }

  /** Approximate bytes held. */
  get bytes(): number {
    return this.#builders.reduce((n, b) => n + b.bytes, 0);
  }

  /** Appends one event; keys that are not columns are ignored, missing ones are null. */
  append(event: Event): void {
    for (let c = 0; c < this.columns.length; c++) {
      this.#builders[c]!.append(event[this.columns[c]!.name]);
    }
    this.#length++;
  }

  /** The buffered events as an Arrow table with one nullable column per config column. */
  toTable(): Table {
    const fields = this.columns.map((c, i) => new Field(c.name, this.#builders[i]!.type, true));
    const children = this.#builders.map((b) => b.finish(this.#length));
    const schema = new Schema(fields);
    const data = makeData({
      type: new Struct(fields),
      length: this.#length,
      nullCount: 0,
      children,
    });
    return new Table([new RecordBatch(schema, data)]);
  }
}

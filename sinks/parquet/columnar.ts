/**
 * Column buffers in Arrow's memory layout. Events are appended one at a time
 * into growing typed arrays (UTF-8 bytes and offsets for text, 64-bit values
 * for ints and timestamps, bits for booleans and validity), so a buffered
 * event costs about its encoded size and lives outside the JS heap. A buffer
 * is drained into the encoder a row group at a time and then reused, so its
 * arrays stop growing once they hold one row group.
 *
 * @module
 */
import { Field, makeData, RecordBatch, Schema, Struct, Table } from "apache-arrow";
import type { Column } from "./file.ts";
import type { Event } from "../contract.ts";
import { type Builder, builderFor } from "./_builders.ts";

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
    return this.#table(false);
  }

  /**
   * Hands `use` the buffered events as a table over the buffer's own memory,
   * then empties the buffer for reuse: `use` must be done with the table
   * when it returns (the Parquet encoder copies it before returning).
   */
  drain<T>(use: (table: Table) => T): T {
    const result = use(this.#table(true));
    for (const b of this.#builders) b.reset();
    this.#length = 0;
    return result;
  }

  #table(view: boolean): Table {
    const fields = this.columns.map((c, i) => new Field(c.name, this.#builders[i]!.type, true));
    const children = this.#builders.map((b) => b.finish(this.#length, view));
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

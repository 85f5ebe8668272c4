/**
 * The `parquet:` config section: the Parquet sink's options.
 *
 * @module
 */
import { type Infer, object, positiveInt, string, withDefault } from "../../config/schema.ts";
import { COMPRESSIONS } from "./file.ts";

/** The `parquet:` config section. */
export const parquetOptions = object({
  dir: withDefault(string({ minLength: 1 }), "lake"),
  roll_rows: withDefault(positiveInt(), 100000),
  roll_bytes: withDefault(positiveInt(), 64 * 1024 * 1024),
  roll_interval_ms: withDefault(positiveInt(), 60000),
  compression: withDefault(string({ values: COMPRESSIONS }), "zstd"),
  /** Events logged but not yet in Parquet files; past this, writes get 503 until files catch up. */
  max_buffered_events: withDefault(positiveInt(), 300000),
  /** Bytes allowed to wait for the next log fsync before writes get 503. */
  max_pending_bytes: withDefault(positiveInt(), 16 * 1024 * 1024),
});

/** Options of the `parquet:` config section. */
export type ParquetOptions = Infer<typeof parquetOptions>;

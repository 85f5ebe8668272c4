/**
 * The `parquet:` config section: the Parquet sink's options.
 *
 * @module
 */
import {
  codeList,
  doc,
  type Infer,
  object,
  positiveInt,
  string,
  withDefault,
} from "../../config/schema.ts";
import { COMPRESSIONS } from "./file.ts";

/** The `parquet:` config section. */
export const parquetOptions = object({
  dir: doc(withDefault(string({ minLength: 1 }), "lake"), "the lake folder (env `HERALD_LAKE`)"),
  roll_rows: doc(
    withDefault(positiveInt(), 100000),
    "buffered events that trigger a roll into Parquet files",
  ),
  row_group_rows: doc(
    withDefault(positiveInt(), 10000),
    "events per Parquet row group: the unit the sink buffers and encodes, per table partition",
  ),
  roll_bytes: doc(withDefault(positiveInt(), 64 * 1024 * 1024), "logged bytes that trigger a roll"),
  roll_interval_ms: doc(
    withDefault(positiveInt(), 60000),
    "age of the oldest buffered event that triggers a roll",
  ),
  compression: doc(
    withDefault(string({ values: COMPRESSIONS }), "zstd"),
    codeList(COMPRESSIONS),
  ),
  max_buffered_events: doc(
    withDefault(positiveInt(), 300000),
    "events logged but not yet in Parquet; past it, 503 until files catch up",
  ),
  max_pending_bytes: doc(
    withDefault(positiveInt(), 16 * 1024 * 1024),
    "bytes waiting for the next log fsync; past it, 503",
  ),
});

/** Options of the `parquet:` config section. */
export type ParquetOptions = Infer<typeof parquetOptions>;

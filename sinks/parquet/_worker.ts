/**
 * Worker that turns Arrow IPC streams into Parquet files, so the CPU-heavy
 * encoding (and parquet-wasm's memory) stays off the thread serving requests.
 * Message in: `{ id, ipc, compression }`; out: `{ id, parquet }` or `{ id, error }`.
 *
 * @module
 */
import {
  Compression,
  Table as WasmTable,
  writeParquet,
  WriterPropertiesBuilder,
} from "parquet-wasm";

const CODECS = {
  zstd: Compression.ZSTD,
  snappy: Compression.SNAPPY,
  none: Compression.UNCOMPRESSED,
};

interface Job {
  id: number;
  ipc: Uint8Array;
  compression: keyof typeof CODECS;
}

const scope = self as unknown as {
  onmessage: (e: MessageEvent<Job>) => void;
  postMessage(message: unknown, transfer?: Transferable[]): void;
};

scope.onmessage = ({ data: { id, ipc, compression } }) => {
  try {
    // WriterProperties are consumed by writeParquet: build new ones for every file.
    const properties = new WriterPropertiesBuilder().setCompression(CODECS[compression]).build();
    const parquet = writeParquet(WasmTable.fromIPCStream(ipc), properties);
    scope.postMessage({ id, parquet }, [parquet.buffer as ArrayBuffer]);
  } catch (error) {
    scope.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
};

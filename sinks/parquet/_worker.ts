/**
 * Worker that turns Arrow IPC streams into Parquet, so the CPU-heavy encoding
 * (and parquet-wasm's memory) stays off the thread serving requests. Two ways in:
 *
 * - `{ op: "encode", id, ipc, compression }`: one whole file; out `{ id, parquet }`.
 * - a streamed file: `{ op: "open", file, path, compression, rowGroupRows }`,
 *   then `{ op: "batch", id, file, ipc }` for each part, answered `{ id }` once
 *   the part is encoded and its row groups are written to `path`, then
 *   `{ op: "close", id, file }`, answered `{ id }` once the footer is written
 *   and `path` is fsynced. Only the row group being encoded is held in memory.
 *
 * Failures answer `{ id, error }`; a streamed file's failure is answered at its close.
 *
 * @module
 */
import {
  Compression,
  type RecordBatch,
  Table as WasmTable,
  transformParquetStream,
  writeParquet,
  WriterPropertiesBuilder,
} from "parquet-wasm";
import { discard, writeAll } from "../io.ts";

const CODECS = {
  zstd: Compression.ZSTD,
  snappy: Compression.SNAPPY,
  none: Compression.UNCOMPRESSED,
};
type Codec = keyof typeof CODECS;

// Unique per event: a dictionary never pays for itself on these, and trying
// one first costs about a third of the encoding time.
const PLAIN_COLUMNS = ["event_id", "request_id", "received_at"];

/** Writer properties: consumed by a write, so built anew for every file. */
function properties(compression: Codec, rowGroupRows?: number) {
  let builder = new WriterPropertiesBuilder().setCompression(CODECS[compression]);
  for (const column of PLAIN_COLUMNS) builder = builder.setColumnDictionaryEnabled(column, false);
  return (rowGroupRows ? builder.setMaxRowGroupSize(rowGroupRows) : builder).build();
}

type Job =
  | { op: "encode"; id: number; ipc: Uint8Array; compression: Codec }
  | { op: "open"; file: number; path: string; compression: Codec; rowGroupRows: number }
  | { op: "batch"; id: number; file: number; ipc: Uint8Array }
  | { op: "close"; id: number; file: number };

const scope = self as unknown as {
  onmessage: (e: MessageEvent<Job>) => void;
  postMessage(message: unknown, transfer?: Transferable[]): void;
};

const messageOf = (error: unknown) => error instanceof Error ? error.message : String(error);

/**
 * A Parquet file written as its parts arrive. parquet-wasm pulls one record
 * batch at a time and asks for the next only after writing the previous one,
 * so each pull after the first answers one part.
 */
class StreamedFile {
  #queue: (RecordBatch | null)[] = [];
  #waiting: number[] = [];
  #wake: (() => void) | null = null;
  #handedOut = 0;
  #failed = false;
  readonly done: Promise<void>;

  constructor(path: string, compression: Codec, rowGroupRows: number) {
    const input = new ReadableStream<RecordBatch>({
      pull: async (controller) => {
        if (this.#handedOut > 0) {
          this.#handedOut--;
          this.#answer();
        }
        while (this.#queue.length === 0) await new Promise<void>((r) => this.#wake = r);
        const batch = this.#queue.shift()!;
        if (batch) {
          this.#handedOut++;
          controller.enqueue(batch);
        } else controller.close();
      },
    }, { highWaterMark: 0 });
    const output = transformParquetStream(input, properties(compression, rowGroupRows));
    output.catch(() => {}); // Reported by #write.
    this.done = this.#write(path, output);
    // A failed file takes no more parts: answer the waiting ones now.
    this.done.catch(() => {
      this.#failed = true;
      while (this.#waiting.length > 0) this.#answer();
    });
  }

  async #write(path: string, output: Promise<ReadableStream<Uint8Array>>): Promise<void> {
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    const file = await Deno.open(path, { write: true, create: true, truncate: true });
    try {
      for await (const chunk of await output) {
        await writeAll(file, chunk);
        discard(chunk);
      }
      await file.syncData();
    } catch (error) {
      // A part-written file only takes space (a full disk stays full): remove it.
      file.close();
      await Deno.remove(path).catch(() => {});
      throw error;
    }
    file.close();
  }

  #answer(): void {
    const id = this.#waiting.shift();
    if (id !== undefined && id >= 0) scope.postMessage({ id });
  }

  add(id: number, ipc: Uint8Array): void {
    if (this.#failed) return scope.postMessage({ id });
    const table = WasmTable.fromIPCStream(ipc);
    discard(ipc);
    const batches = table.recordBatches();
    table.free();
    // Answered when the last of its batches is written.
    batches.forEach((b, i) => {
      this.#queue.push(b);
      this.#waiting.push(i === batches.length - 1 ? id : -1);
    });
    this.#wakeUp();
  }

  end(): void {
    this.#queue.push(null);
    this.#wakeUp();
  }

  #wakeUp(): void {
    this.#wake?.();
    this.#wake = null;
  }
}

const files = new Map<number, StreamedFile>();

scope.onmessage = ({ data: job }) => {
  try {
    if (job.op === "encode") {
      const table = WasmTable.fromIPCStream(job.ipc);
      discard(job.ipc);
      const parquet = writeParquet(table, properties(job.compression));
      scope.postMessage({ id: job.id, parquet }, [parquet.buffer as ArrayBuffer]);
    } else if (job.op === "open") {
      files.set(job.file, new StreamedFile(job.path, job.compression, job.rowGroupRows));
    } else if (job.op === "batch") {
      files.get(job.file)!.add(job.id, job.ipc);
    } else {
      const file = files.get(job.file)!;
      files.delete(job.file);
      file.end();
      file.done.then(
        () => scope.postMessage({ id: job.id }),
        (error) => scope.postMessage({ id: job.id, error: messageOf(error) }),
      );
    }
  } catch (error) {
    if ("id" in job) scope.postMessage({ id: job.id, error: messageOf(error) });
  }
};

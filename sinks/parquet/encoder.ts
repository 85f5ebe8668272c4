/**
 * Parquet encoding on a worker thread (`_worker.ts`): whole files from one
 * Arrow table, or files streamed part by part, a row group at a time.
 *
 * @module
 */
import { type Table, tableToIPC } from "apache-arrow";
import { type CompressionName, renameIntoPlace, tempPathOf } from "./file.ts";

interface Job {
  resolve: (parquet?: Uint8Array) => void;
  reject: (e: Error) => void;
  bytes: number;
}

/** A Parquet file being written part by part; see {@linkcode ParquetEncoder.openFile}. */
export interface StreamedFile {
  /** Appends `table`'s rows as row groups; resolves once they are written. */
  write(table: Table): Promise<void>;
  /** Writes the footer, fsyncs, and renames the file into place. */
  close(): Promise<void>;
}

/**
 * Encodes Arrow tables as Parquet on one worker thread, so encoding never
 * stalls the thread that answers requests. Arrow data is copied into an IPC
 * message before a call returns, so the caller may reuse its buffers at once.
 */
export class ParquetEncoder {
  #worker: Worker | null = null;
  #jobs = new Map<number, Job>();
  #next = 0;
  #files = 0;
  #pendingBytes = 0;
  #drained: { limit: number; resolve: () => void }[] = [];

  #start(): Worker {
    const worker = new Worker(new URL("./_worker.ts", import.meta.url).href, {
      type: "module",
    });
    worker.onmessage = (
      { data }: MessageEvent<{ id: number; parquet?: Uint8Array; error?: string }>,
    ) => {
      const job = this.#jobs.get(data.id);
      if (!job) return;
      this.#settle(data.id, job);
      if (data.error === undefined) job.resolve(data.parquet);
      else job.reject(new Error(`Cannot encode Parquet: ${data.error}`));
    };
    worker.onerror = (event) => {
      event.preventDefault();
      for (const [id, job] of this.#jobs) {
        this.#settle(id, job);
        job.reject(new Error(`Parquet worker failed: ${event.message}`));
      }
      this.#worker?.terminate();
      this.#worker = null;
    };
    return worker;
  }

  #settle(id: number, job: Job): void {
    this.#jobs.delete(id);
    this.#pendingBytes -= job.bytes;
    this.#drained = this.#drained.filter((d) => {
      if (this.#pendingBytes > d.limit) return true;
      d.resolve();
      return false;
    });
  }

  #post(message: Record<string, unknown>, ipc?: Uint8Array): Promise<Uint8Array | undefined> {
    const worker = this.#worker ??= this.#start();
    const id = this.#next++;
    const bytes = ipc?.length ?? 0;
    this.#pendingBytes += bytes;
    const done = new Promise<Uint8Array | undefined>((resolve, reject) =>
      this.#jobs.set(id, { resolve, reject, bytes })
    );
    worker.postMessage({ ...message, id, ipc }, ipc ? [ipc.buffer as ArrayBuffer] : []);
    return done;
  }

  /** Bytes handed to the worker and not yet encoded. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Resolves once at most `limit` bytes wait for the worker. */
  drained(limit: number): Promise<void> {
    if (this.#pendingBytes <= limit) return Promise.resolve();
    return new Promise((resolve) => this.#drained.push({ limit, resolve }));
  }

  /** Encodes `table` with `compression` into one whole file. */
  async encode(table: Table, compression: CompressionName): Promise<Uint8Array> {
    return (await this.#post({ op: "encode", compression }, tableToIPC(table, "stream")))!;
  }

  /**
   * Opens a file at `path`, written under its temporary name (see
   * `tempPathOf`) with row groups of at most `rowGroupRows` rows.
   */
  openFile(
    path: string,
    options: { compression: CompressionName; rowGroupRows: number },
  ): StreamedFile {
    const file = this.#files++;
    const tmp = tempPathOf(path);
    const worker = this.#worker ??= this.#start();
    worker.postMessage({ op: "open", file, path: tmp, ...options });
    return {
      write: async (table) => {
        await this.#post({ op: "batch", file }, tableToIPC(table, "stream"));
      },
      close: async () => {
        await this.#post({ op: "close", file });
        await renameIntoPlace(tmp, path);
      },
    };
  }

  /** Stops the worker. */
  close(): void {
    this.#worker?.terminate();
    this.#worker = null;
  }
}

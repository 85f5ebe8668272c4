/**
 * The supervisor's stdout, shared by every worker's event stream. Workers
 * writing to one pipe themselves could tear each other's lines (a pipe keeps
 * only writes of up to 4 KiB whole), so each worker writes to a pipe of its
 * own and the supervisor copies whole lines, one write at a time.
 *
 * @module
 */
import { type ByteWriter, writeAll } from "../sinks/io.ts";

const NEWLINE = 10;

/** Copies whole lines from each relayed stream to one writer, never two writes at once. */
export class LineRelay {
  #out: ByteWriter;
  #writing: Promise<void> = Promise.resolve();

  constructor(out: ByteWriter) {
    this.#out = out;
  }

  /**
   * Copies `stream` to the writer until it ends. Reading waits for each
   * write, so a slow reader of the output slows the worker down, as its own
   * stdout would. If the output breaks, `stream` is cancelled: the worker's
   * next write fails, and its stdout sink reports it.
   */
  async relay(stream: ReadableStream<Uint8Array>): Promise<void> {
    let tail: Uint8Array = new Uint8Array(0);
    try {
      for await (const chunk of stream) {
        const bytes = tail.length === 0 ? chunk : concat(tail, chunk);
        const end = bytes.lastIndexOf(NEWLINE) + 1;
        tail = bytes.slice(end);
        if (end > 0) await this.#write(bytes.subarray(0, end));
      }
      if (tail.length > 0) await this.#write(tail);
    } catch {
      await stream.cancel().catch(() => {});
    }
  }

  #write(bytes: Uint8Array): Promise<void> {
    const write = this.#writing.then(() => writeAll(this.#out, bytes));
    this.#writing = write.catch(() => {});
    return write;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

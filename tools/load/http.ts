/**
 * The load tool's HTTP/1.1 client, built on `Deno.connect`: `fetch` cannot set
 * `Host`, and a lean client is what lets one machine measure a server that
 * shares its cores. One keep-alive connection, one request at a time.
 *
 * @module
 */

const CR = 13;
const LF = 10;
const MAX_BUFFER = 64 * 1024 * 1024;
const latin1 = new TextDecoder("latin1");

function lowerBytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}
const CONTENT_LENGTH = lowerBytes("content-length");
const TRANSFER_ENCODING = lowerBytes("transfer-encoding");
const CONNECTION = lowerBytes("connection");

function nameIs(buf: Uint8Array, at: number, length: number, name: Uint8Array): boolean {
  if (length !== name.length) return false;
  for (let i = 0; i < length; i++) if ((buf[at + i]! | 0x20) !== name[i]) return false;
  return true;
}

class ProtocolError extends Error {
  override name = "BadResponse";
}
class ClosedError extends Error {
  override name = "ConnectionClosed";
}
class TimeoutError extends Error {
  override name = "Timeout";
}

/**
 * One keep-alive HTTP/1.1 connection, one request at a time. It reconnects
 * when needed and retries once when a reused connection turns out to be closed
 * before any byte of the answer arrived.
 */
export class HttpClient {
  readonly #hostname: string;
  readonly #port: number;
  #conn: Deno.TcpConn | null = null;
  #buf = new Uint8Array(16 * 1024);
  #start = 0;
  #end = 0;
  #served = 0;
  #received = 0;
  #timedOut = false;
  readonly #decoder = new TextDecoder();
  /** The body of the last answer, when it was asked for. */
  body = "";

  constructor(hostname: string, port: number) {
    this.#hostname = hostname;
    this.#port = port;
  }

  async connect(): Promise<void> {
    const conn = await Deno.connect({ hostname: this.#hostname, port: this.#port });
    conn.setNoDelay(true);
    this.#conn = conn;
    this.#start = this.#end = this.#served = 0;
  }

  close(): void {
    const conn = this.#conn;
    this.#conn = null;
    try {
      conn?.close();
    } catch { /* already closed */ }
  }

  /** Drops the connection of a request that takes too long. */
  abort(): void {
    this.#timedOut = true;
    this.close();
  }

  /** Sends `request` (complete HTTP/1.1 bytes) and returns the answer's status. */
  async send(request: Uint8Array, wantBody: boolean): Promise<number> {
    this.#timedOut = false;
    for (let attempt = 0;; attempt++) {
      if (this.#conn === null) await this.connect();
      const reused = this.#served > 0;
      this.#received = 0;
      try {
        const conn = this.#conn!;
        for (let done = 0; done < request.length;) {
          done += await conn.write(done === 0 ? request : request.subarray(done));
        }
        const status = await this.#readResponse(wantBody);
        this.#served++;
        return status;
      } catch (error) {
        this.close();
        if (this.#timedOut) throw new TimeoutError("No answer in time");
        if (!(reused && this.#received === 0 && attempt === 0)) throw error;
      }
    }
  }

  /** Reads more bytes; false at end of stream. */
  async #fill(): Promise<boolean> {
    if (this.#end === this.#buf.length) {
      if (this.#start > 0) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      } else {
        if (this.#buf.length >= MAX_BUFFER) throw new ProtocolError("Answer too large");
        const grown = new Uint8Array(this.#buf.length * 2);
        grown.set(this.#buf);
        this.#buf = grown;
      }
    }
    const conn = this.#conn;
    if (conn === null) throw new ClosedError("Connection closed");
    const n = await conn.read(this.#buf.subarray(this.#end));
    if (n === null) return false;
    this.#end += n;
    this.#received += n;
    return true;
  }

  async #more(): Promise<void> {
    if (!(await this.#fill())) throw new ClosedError("Connection closed before the answer ended");
  }

  async #readResponse(wantBody: boolean): Promise<number> {
    for (;;) {
      // Head: up to the blank line.
      let scanned = 0;
      let headEnd = -1;
      for (;;) {
        const buf = this.#buf;
        let i = buf.indexOf(CR, this.#start + scanned);
        while (i >= 0 && i + 3 < this.#end) {
          if (buf[i + 1] === LF && buf[i + 2] === CR && buf[i + 3] === LF) break;
          i = buf.indexOf(CR, i + 1);
        }
        if (i >= 0 && i + 3 < this.#end) {
          headEnd = i + 4;
          break;
        }
        scanned = Math.max(0, this.#end - this.#start - 3);
        await this.#more();
      }
      const buf = this.#buf;
      const s = this.#start;
      const d0 = buf[s + 9]! - 48;
      const d1 = buf[s + 10]! - 48;
      const d2 = buf[s + 11]! - 48;
      if (
        headEnd - s < 16 || buf[s] !== 72 || buf[s + 4] !== 47 || buf[s + 8] !== 32 ||
        !(d0 >= 1 && d0 <= 9 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9)
      ) {
        throw new ProtocolError("Malformed status line");
      }
      const status = d0 * 100 + d1 * 10 + d2;
      let close = buf[s + 7] === 48; // HTTP/1.0
      let length = -1;
      let chunked = false;
      let line = buf.indexOf(LF, s) + 1;
      while (line < headEnd - 2) {
        const lineEnd = buf.indexOf(LF, line);
        const colon = buf.indexOf(58, line);
        if (colon > 0 && colon < lineEnd) {
          let v = colon + 1;
          while (buf[v] === 32 || buf[v] === 9) v++;
          const nameLength = colon - line;
          if (nameIs(buf, line, nameLength, CONTENT_LENGTH)) {
            length = 0;
            for (let c = buf[v]!; c >= 48 && c <= 57; c = buf[++v]!) length = length * 10 + c - 48;
          } else if (nameIs(buf, line, nameLength, TRANSFER_ENCODING)) {
            chunked = latin1.decode(buf.subarray(v, lineEnd)).toLowerCase().includes("chunked");
          } else if (nameIs(buf, line, nameLength, CONNECTION)) {
            const value = latin1.decode(buf.subarray(v, lineEnd)).toLowerCase();
            if (value.includes("close")) close = true;
            else if (value.includes("keep-alive")) close = false;
          }
        }
        line = lineEnd + 1;
      }
      this.#start = headEnd;
      if (status >= 100 && status < 200) continue;
      this.body = "";
      if (status === 204 || status === 304) { /* no body */ }
      else if (chunked) await this.#readChunked(wantBody);
      else if (length >= 0) await this.#readFixed(length, wantBody);
      else {
        while (await this.#fill()) { /* until the server closes */ }
        await this.#readFixed(this.#end - this.#start, wantBody);
        close = true;
      }
      if (wantBody) this.body += this.#decoder.decode();
      if (this.#start === this.#end) this.#start = this.#end = 0;
      if (close) this.close();
      return status;
    }
  }

  async #readFixed(length: number, wantBody: boolean): Promise<void> {
    if (wantBody) {
      while (this.#end - this.#start < length) await this.#more();
      this.body += this.#decoder.decode(this.#buf.subarray(this.#start, this.#start + length), {
        stream: true,
      });
      this.#start += length;
      return;
    }
    let left = length;
    for (;;) {
      const take = Math.min(left, this.#end - this.#start);
      this.#start += take;
      left -= take;
      if (left === 0) return;
      this.#start = this.#end = 0;
      await this.#more();
    }
  }

  async #readLine(): Promise<string> {
    let i = this.#buf.indexOf(LF, this.#start);
    while (i < 0 || i >= this.#end) {
      const scanned = this.#end - this.#start;
      await this.#more();
      i = this.#buf.indexOf(LF, this.#start + scanned);
    }
    const text = latin1.decode(this.#buf.subarray(this.#start, i)).replace(/\r$/, "");
    this.#start = i + 1;
    return text;
  }

  async #readChunked(wantBody: boolean): Promise<void> {
    for (;;) {
      const sizeText = (await this.#readLine()).split(";")[0]!.trim();
      if (!/^[0-9a-fA-F]+$/.test(sizeText)) throw new ProtocolError("Malformed chunk size");
      const size = parseInt(sizeText, 16);
      if (size === 0) {
        while ((await this.#readLine()) !== "") { /* trailers */ }
        return;
      }
      await this.#readFixed(size, wantBody);
      if ((await this.#readLine()) !== "") throw new ProtocolError("Malformed chunk end");
    }
  }
}

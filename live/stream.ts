/**
 * `GET /live/stream`: server-sent events of one viewer. The first messages
 * are the buffer (after `Last-Event-ID` when the browser reconnects), then
 * the live tail. Each item is a `message` with the item's sequence number as
 * its `id` (with several workers, every worker's last one: `0:12,1:40`);
 * once a second a `status` message carries the rates, what the hub sampled
 * out, and what this viewer dropped. Items are serialised here, when a
 * viewer reads, never when they are published.
 *
 * @module
 */
import type { Entry, LiveHub, LiveStatus, Viewer } from "./hub.ts";
import { Rejection, Relayed } from "./hub.ts";

/** Entries per write: one chunk carries many small messages. */
const CHUNK_ENTRIES = 200;
/** What an EventSource waits before it reconnects. */
const RETRY_MS = 1000;

const encoder = new TextEncoder();

/** The JSON of one entry as the page reads it. */
export function entryJson(entry: Entry, worker: number | null): string {
  const { seq, item } = entry;
  if (item instanceof Relayed) return item.json;
  const record = item instanceof Rejection
    ? { seq, worker, ...item }
    : { seq, worker, kind: "accepted", event: item };
  return JSON.stringify(record);
}

function statusMessage(hub: LiveHub, viewer: Viewer): string {
  const worker = hub.worker;
  const own = hub.status(viewer);
  if (!viewer.relaying) {
    const status = { ...own, worker: worker?.index ?? null, workers: worker?.count ?? 1 };
    return `event: status\ndata: ${JSON.stringify(status)}\n\n`;
  }
  // The whole server: this worker's counts and those of every worker relaying now.
  const all: LiveStatus = { ...own, accepted: { ...own.accepted }, rejected: { ...own.rejected } };
  for (const other of viewer.relayed.values()) {
    all.accepted.seen += other.accepted.seen;
    all.accepted.kept += other.accepted.kept;
    all.rejected.seen += other.rejected.seen;
    all.rejected.kept += other.rejected.kept;
    all.dropped += other.dropped;
  }
  const status = {
    ...all,
    worker: null,
    workers: worker?.count ?? 1,
    sources: 1 + viewer.relayed.size,
  };
  return `event: status\ndata: ${JSON.stringify(status)}\n\n`;
}

/**
 * What a `Last-Event-ID` says was seen, by worker: a sequence number of
 * worker `own`, or `<worker>:<seq>` pairs; nothing for anything else.
 */
export function lastEventId(header: string | null, own: number): Map<number, number> {
  if (header === null) return new Map();
  if (/^\d{1,15}$/.test(header)) return new Map([[own, Number(header)]]);
  if (!/^\d{1,4}:\d{1,15}(,\d{1,4}:\d{1,15}){0,255}$/.test(header)) return new Map();
  return new Map(header.split(",").map((pair) => pair.split(":").map(Number) as [number, number]));
}

/** The `id` of an entry: its sequence number, or with relaying every worker's last one. */
function idOf(viewer: Viewer, entry: Entry, own: number): string {
  if (!viewer.relaying) return String(entry.seq);
  const { item } = entry;
  if (item instanceof Relayed) viewer.lastSent.set(item.worker, item.seq);
  else viewer.lastSent.set(own, entry.seq);
  return [...viewer.lastSent].sort(([a], [b]) => a - b).map(([w, s]) => `${w}:${s}`).join(",");
}

/** The SSE body of `viewer`; cancelling it (the browser left) disconnects the viewer. */
export function viewerStream(hub: LiveHub, viewer: Viewer): ReadableStream<Uint8Array> {
  const worker = hub.worker?.index ?? null;
  const own = worker ?? 0;
  let first = true;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      while (!viewer.closed && viewer.pending === 0 && !viewer.statusDue) await viewer.wait();
      if (viewer.closed) {
        controller.close();
        return;
      }
      let text = first ? `retry: ${RETRY_MS}\n\n` : "";
      first = false;
      if (viewer.statusDue) {
        viewer.statusDue = false;
        text += statusMessage(hub, viewer);
      }
      for (const entry of viewer.take(CHUNK_ENTRIES)) {
        text += `id: ${idOf(viewer, entry, own)}\ndata: ${entryJson(entry, worker)}\n\n`;
      }
      controller.enqueue(encoder.encode(text));
    },
    cancel() {
      hub.disconnect(viewer);
    },
  }, { highWaterMark: 1 });
}

/** One parsed server-sent event. */
export interface SseMessage {
  event: string;
  id: string | undefined;
  data: string;
}

/** The messages of a server-sent events body, as they arrive. */
export async function* sseMessages(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  let text = "";
  for await (const chunk of body.pipeThrough(new TextDecoderStream())) {
    text += chunk;
    let end: number;
    while ((end = text.indexOf("\n\n")) >= 0) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      let event = "message", id: string | undefined, data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("id: ")) id = line.slice(4);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data !== "") yield { event, id, data };
    }
  }
}

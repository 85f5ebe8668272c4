/**
 * `GET /live/stream`: server-sent events of one viewer. The first messages
 * are the buffer (after `Last-Event-ID` when the browser reconnects), then
 * the live tail. Each item is a `message` with the item's sequence number as
 * its `id`; once a second an `status` message carries the rates, what the
 * hub sampled out, and what this viewer dropped. Items are serialised here,
 * when a viewer reads, never when they are published.
 *
 * @module
 */
import type { Entry, LiveHub, LiveStatus, Viewer } from "./hub.ts";
import { Rejection } from "./hub.ts";

/** Entries per write: one chunk carries many small messages. */
const CHUNK_ENTRIES = 200;
/** What an EventSource waits before it reconnects. */
const RETRY_MS = 1000;

const encoder = new TextEncoder();

/** The JSON of one entry as the page reads it. */
export function entryJson(entry: Entry, worker: number | null): string {
  const { seq, item } = entry;
  const record = item instanceof Rejection
    ? { seq, worker, ...item }
    : { seq, worker, kind: "accepted", event: item };
  return JSON.stringify(record);
}

function statusMessage(hub: LiveHub, status: LiveStatus): string {
  const worker = hub.worker;
  return `event: status\ndata: ${
    JSON.stringify({ ...status, worker: worker?.index ?? null, workers: worker?.count ?? 1 })
  }\n\n`;
}

/** The `Last-Event-ID` a reconnecting browser sends, when it is a sequence number. */
export function lastEventId(header: string | null): number | undefined {
  return header !== null && /^\d{1,15}$/.test(header) ? Number(header) : undefined;
}

/** The SSE body of `viewer`; cancelling it (the browser left) disconnects the viewer. */
export function viewerStream(hub: LiveHub, viewer: Viewer): ReadableStream<Uint8Array> {
  const worker = hub.worker?.index ?? null;
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
        text += statusMessage(hub, hub.status(viewer));
      }
      for (const entry of viewer.take(CHUNK_ENTRIES)) {
        text += `id: ${entry.seq}\ndata: ${entryJson(entry, worker)}\n\n`;
      }
      controller.enqueue(encoder.encode(text));
    },
    cancel() {
      hub.disconnect(viewer);
    },
  }, { highWaterMark: 1 });
}

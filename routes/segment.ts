/**
 * Segment's HTTP tracking API (`segment.enabled`): `/v1/track`, `/v1/identify`,
 * `/v1/page`, `/v1/screen`, `/v1/batch` and the short aliases of Segment's
 * SDKs. A call becomes an event of a configured action; accepted calls are
 * answered `{"success": true}` as Segment does. Bad messages are answered
 * with the problems, each naming the message's key at fault: 400 for a
 * single call; in a batch, that message only (207, or 400 when none is valid).
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { REJECTED_ACTION, SEGMENT_BATCH_PATHS, SEGMENT_CALLS } from "../config/mod.ts";
import type { FieldProblem } from "./enrich.ts";
import { ingest, type IngestItem, type IngestResult } from "./ingest.ts";
import { type BatchDefaults, MESSAGE_KEYS, SegmentMessages } from "./segment_messages.ts";
import {
  type BodyLimits,
  errorBody,
  type HeraldEnv,
  isJsonObject,
  methodNotAllowed,
  readJsonBody,
  type RouteContext,
  utf8Length,
} from "./_shared.ts";

/** One message's outcome in a batch answer. */
type MessageResult =
  & { index: number; messageId?: string }
  & ({ status: "accepted"; event_id: string } | {
    status: "rejected";
    error: string;
    fields?: FieldProblem[];
  });

/** The message keys ingest may name besides the action's input. */
const ENVELOPE_KEYS: ReadonlySet<string> = new Set(Object.values(MESSAGE_KEYS));

/** Builds the Segment routes; other methods on their paths get 405. */
export function segmentRoutes(ctx: RouteContext): Hono<HeraldEnv> {
  const { server, segment } = ctx.config;
  const messages = new SegmentMessages(ctx.config);
  const limits: BodyLimits = {
    maxBytes: segment.max_batch_bytes,
    timeoutMs: server.body_timeout_ms,
  };
  const maxEventBytes = segment.max_event_bytes;
  const read = (c: Context<HeraldEnv>) =>
    readJsonBody(c, { plainText: true, maxDepth: server.max_json_depth, limits });

  /** Ingests the messages that translate; each message gets its result, in order. */
  async function ingestAll(
    c: Context<HeraldEnv>,
    batch: readonly { message: unknown; type: unknown }[],
    defaults: BatchDefaults,
  ): Promise<IngestResult[]> {
    const results: (IngestResult | undefined)[] = [];
    const items: IngestItem[] = [];
    const at: { index: number; input: string }[] = [];
    batch.forEach(({ message, type }, index) => {
      if (!isJsonObject(message)) {
        results[index] = { status: "rejected", error: "Message must be a JSON object" };
        return;
      }
      const size = utf8Length(JSON.stringify(message));
      if (size > maxEventBytes) {
        const error = `Message is ${size} bytes of JSON, over the limit of ${maxEventBytes}`;
        results[index] = { status: "rejected", error };
        return;
      }
      const translated = messages.translate(message, type, defaults);
      if ("error" in translated) {
        results[index] = { status: "rejected", ...translated };
        return;
      }
      items.push(translated.item);
      at.push({ index, input: translated.input });
    });
    const ingested = items.length > 0 ? await ingest(c, ctx, items) : [];
    let stored = 0;
    ingested.forEach((result, i) => {
      const { index, input } = at[i]!;
      // Ingest names the action's fields as they are in the input, and the
      // message's id and times as Segment does.
      const item = items[i]!;
      if (item.action === REJECTED_ACTION && result.status === "accepted" && !result.duplicate) {
        stored++;
      }
      const fields = item.fields;
      const named = (field: string) =>
        ENVELOPE_KEYS.has(field) && !Object.hasOwn(fields, field) ? field : `${input}.${field}`;
      results[index] = result.status === "rejected" && result.fields
        ? { ...result, fields: result.fields.map((p) => ({ ...p, field: named(p.field) })) }
        : result;
    });
    if (stored > 0) ctx.metrics.segmentStored.inc(stored);
    return results as IngestResult[];
  }

  const app = new Hono<HeraldEnv>();
  for (const [type, paths] of Object.entries(SEGMENT_CALLS)) {
    for (const path of paths) {
      app.post(path, async (c) => {
        const body = await read(c);
        if (!isJsonObject(body)) {
          return c.json(errorBody("invalid_body", "Body must be a JSON object: one message"), 400);
        }
        const size = (c.get("body") ?? c.get("rawBody"))?.length ?? 0;
        if (size > maxEventBytes) {
          return c.json(
            errorBody("event_too_large", `Body exceeds ${maxEventBytes} bytes (one message)`),
            413,
          );
        }
        const [result] = await ingestAll(c, [{ message: body, type }], {});
        if (result!.status === "accepted") return c.json({ success: true });
        const { error, fields } = result!;
        return c.json(errorBody("invalid_fields", error, fields ?? []), 400);
      });
      app.all(path, (c) => methodNotAllowed(c.req.method, path, ["POST"]));
    }
  }

  for (const path of SEGMENT_BATCH_PATHS) {
    app.post(path, async (c) => {
      const body = await read(c);
      const batch: unknown = isJsonObject(body) ? body.batch : undefined;
      if (!isJsonObject(body) || !Array.isArray(batch) || batch.length === 0) {
        throw new HTTPException(400, {
          message: 'Body must be a JSON object whose "batch" is a non-empty list of messages',
        });
      }
      const max = server.max_batch_events;
      if (batch.length > max) {
        return c.json(
          errorBody(
            "too_many_events",
            `A batch holds at most ${max} messages, got ${batch.length}`,
          ),
          413,
        );
      }
      const defaults = { sentAt: body.sentAt, context: body.context };
      const results = await ingestAll(
        c,
        batch.map((message) => ({
          message,
          type: isJsonObject(message) ? message.type : undefined,
        })),
        defaults,
      );
      const accepted = results.filter((r) => r.status === "accepted").length;
      if (accepted === batch.length) return c.json({ success: true });
      const listed = results.map((result, index): MessageResult => {
        const messageId = (batch[index] as Record<string, unknown> | undefined)?.messageId;
        return typeof messageId === "string"
          ? { index, messageId, ...result }
          : { index, ...result };
      });
      const answer = {
        success: false,
        accepted,
        rejected: batch.length - accepted,
        results: listed,
      };
      if (accepted === 0) {
        return c.json(
          { error: "invalid_events", message: "No message in the batch is valid", ...answer },
          400,
        );
      }
      return c.json(answer, 207);
    });
    app.all(path, (c) => methodNotAllowed(c.req.method, path, ["POST"]));
  }
  return app;
}

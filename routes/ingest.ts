/**
 * From checked input to acknowledged events, for every route that takes
 * events: each item's fields, client event id and client times are checked,
 * repeats of client ids are answered without a write, and the new events are
 * written together in one fan-out write.
 *
 * @module
 */
import type { Context } from "hono";
import type { ActionConfig } from "../config/mod.ts";
import type { FieldValue } from "../config/fields.ts";
import type { Event } from "../sinks/contract.ts";
import { type ClientTimes, readClientTimes, readEventId } from "./client_time.ts";

export { uuidFromText } from "./client_time.ts";
import { clientIp, enrich, type FieldProblem, readFields, type RequestMeta } from "./enrich.ts";
import type { HeraldEnv, RouteContext } from "./_shared.ts";

/** The names of the reserved inputs, as a route's clients know them. */
export interface IngestFieldNames {
  /** Default `event_id`. */
  eventId?: string;
  /** Default `client_time`. */
  clientTime?: string;
  /** Default `sent_at`. */
  sentAt?: string;
}

/** One event to take: an action, its fields, and what the client says about it. */
export interface IngestItem {
  action: ActionConfig;
  /** The action's fields only (reserved keys already taken out). */
  fields: Record<string, unknown>;
  /** Values from a query string (all text) rather than JSON. */
  fromText: boolean;
  /** Client event id, unchecked (body `event_id`, `Idempotency-Key`, Segment `messageId`). */
  eventId?: unknown;
  /** Client timestamp, unchecked (body `client_time`, Segment `timestamp`). */
  clientTime?: unknown;
  /** When the request was sent by the client's clock, unchecked (`sent_at`, Segment `sentAt`). */
  sentAt?: unknown;
  /**
   * Put before the reserved inputs' names in problems (default ""), e.g.
   * `batch[3].`; a name in `fieldNames` replaces the default name.
   */
  fieldPrefix?: string;
  /** The reserved inputs' names in problems, when a route calls them otherwise. */
  fieldNames?: IngestFieldNames;
  /** Problems the route found itself (a query key given twice), reported with the item's. */
  problems?: FieldProblem[];
  /** Columns the route sets beside the action's fields, already typed (Segment's `user_id`). */
  columns?: Readonly<Record<string, FieldValue | null>>;
}

/** One item's outcome, in the order of the items. */
export type IngestResult =
  | { status: "accepted"; event_id: string; duplicate?: true }
  | { status: "rejected"; error: string; fields?: FieldProblem[] };

/** An item checked and built, with a client id whose fate is to be settled. */
interface Built {
  index: number;
  event: Event;
  id: string;
}

/**
 * Validates every item (fields, id, time), drops repeats of recently
 * acknowledged ids (and repeats within the same call, and ids whose first
 * write is still in flight: it waits for that write's outcome), writes the
 * new valid events in ONE `ctx.fanOut.write` (a `SinkUnavailableError`
 * propagates, for a 503, and then no id is recorded as acknowledged), then
 * records the ids. Returns one result per item, in order.
 */
export async function ingest(
  c: Context<HeraldEnv>,
  ctx: RouteContext,
  items: readonly IngestItem[],
): Promise<IngestResult[]> {
  const results: IngestResult[] = new Array(items.length);
  const events: Event[] = [];
  // Items with a client id, when there are any: only they pay for dedup.
  let withIds: Built[] | undefined;
  let meta: RequestMeta | undefined;
  for (let index = 0; index < items.length; index++) {
    const outcome = buildItem(c, ctx, items[index]!, meta);
    if ("error" in outcome) {
      results[index] = outcome;
      continue;
    }
    meta = outcome.meta;
    if (outcome.id === undefined) {
      events.push(outcome.event);
      results[index] = { status: "accepted", event_id: outcome.event.event_id as string };
    } else (withIds ??= []).push({ index, event: outcome.event, id: outcome.id });
  }
  if (withIds === undefined) {
    if (events.length > 0) await ctx.fanOut.write(events);
    return results;
  }
  const ids = await settleIds(ctx, withIds, events, results);
  if (events.length === 0) return results;
  const { dedup } = ctx;
  try {
    await ctx.fanOut.write(events);
  } catch (error) {
    dedup.settle(ids, false, ctx.deps.now());
    throw error;
  }
  dedup.settle(ids, true, ctx.deps.now());
  return results;
}

/**
 * Sorts the built items by their ids' fate: repeats of an acknowledged id,
 * or of one earlier in this call, are answered as duplicates; the others are
 * claimed, their events added to `events`, and their ids returned. While any
 * of the ids is being written by another request, nothing is claimed: the
 * call waits for those writes and looks again. A call that waits holds no
 * claim, so two calls can never wait on each other. The claims follow the
 * last look with no await between, so two requests never both write an id.
 */
async function settleIds(
  ctx: RouteContext,
  built: readonly Built[],
  events: Event[],
  results: IngestResult[],
): Promise<Set<string>> {
  const { dedup } = ctx;
  for (;;) {
    const now = ctx.deps.now();
    const writing: Promise<void>[] = [];
    for (const item of built) {
      const state = dedup.state(item.id, now);
      if (typeof state !== "string") writing.push(state);
    }
    if (writing.length === 0) break;
    await Promise.all(writing);
  }
  const ids = new Set<string>();
  const now = ctx.deps.now();
  for (const item of built) {
    if (ids.has(item.id) || dedup.state(item.id, now) === "acked") {
      dedup.duplicates++;
      results[item.index] = { status: "accepted", event_id: item.id, duplicate: true };
    } else {
      dedup.claim(item.id);
      ids.add(item.id);
      events.push(item.event);
      results[item.index] = { status: "accepted", event_id: item.id };
    }
  }
  return ids;
}

/** Checks one item and builds its event, or says why it is rejected. */
function buildItem(
  c: Context<HeraldEnv>,
  ctx: RouteContext,
  item: IngestItem,
  known: RequestMeta | undefined,
):
  | { event: Event; id?: string; meta: RequestMeta }
  | { status: "rejected"; error: string; fields: FieldProblem[] } {
  const read = readFields(item.action, item.fields, item.fromText, ctx.deps.random);
  let problems = "problems" in read ? read.problems : undefined;
  if (item.problems !== undefined && item.problems.length > 0) {
    problems = [...item.problems, ...(problems ?? [])];
  }
  let id: string | undefined;
  if (item.eventId !== undefined) {
    const checked = readEventId(item.eventId);
    if ("problem" in checked) {
      (problems ??= []).push({ field: nameOf(item, "eventId"), problem: checked.problem });
    } else id = checked.id;
  }
  let times: ClientTimes | undefined;
  if (item.clientTime !== undefined || item.sentAt !== undefined) {
    const config = ctx.config.client_time;
    const checked = readClientTimes(item, ctx.deps.now(), config);
    const reject = config.invalid === "reject";
    for (const { key, problem } of checked.problems) {
      ctx.metrics.clientTimes.add(key, reject ? "rejected" : "nulled");
      const field = nameOf(item, key === "client_time" ? "clientTime" : "sentAt");
      if (reject) (problems ??= []).push({ field, problem });
    }
    times = checked.times;
  }
  if (problems !== undefined || "problems" in read) {
    return {
      status: "rejected",
      error: `Invalid fields for action "${item.action.name}"`,
      fields: problems ?? [],
    };
  }
  const meta = known ?? requestMeta(c, ctx);
  const client = id === undefined && times === undefined ? undefined : { eventId: id, times };
  const event = enrich(item.action, read.values, meta, {
    headers: ctx.config.enrich.headers,
    deps: ctx.deps,
    client,
  });
  if (item.columns !== undefined) Object.assign(event, item.columns);
  // With dedup off, a client id is kept but not remembered.
  return id !== undefined && ctx.dedup.enabled ? { event, id, meta } : { event, meta };
}

const DEFAULT_NAMES: Required<IngestFieldNames> = {
  eventId: "event_id",
  clientTime: "client_time",
  sentAt: "sent_at",
};

function nameOf(item: IngestItem, key: keyof IngestFieldNames): string {
  return (item.fieldPrefix ?? "") + (item.fieldNames?.[key] ?? DEFAULT_NAMES[key]);
}

/** What the request says about itself: the same for every item of one call. */
function requestMeta(c: Context<HeraldEnv>, ctx: RouteContext): RequestMeta {
  return {
    headers: c.req.raw.headers,
    clientIp: clientIp(
      c.req.raw.headers,
      c.env?.remoteAddr?.hostname ?? null,
      ctx.config.server.trust_proxy,
    ),
    requestId: c.get("requestId"),
    source: c.get("source"),
  };
}

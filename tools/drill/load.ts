/**
 * The drills' load: concurrent loops, each sending `GET /drill?oid=<unique>`
 * to whichever Herald is current, recording what happened to every oid. A
 * 2xx is an obligation: every sink promised to keep that oid. Nothing is
 * retried with the same oid, so any oid found twice in a sink is a duplicate.
 *
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";

/** What happened to one request. */
export interface Outcome {
  oid: string;
  /** HTTP status, or 0 when no answer came (refused, reset, client timeout). */
  status: number;
  /** When it was sent (ms since the epoch). */
  sentAt: number;
  /** How long until the answer or the failure. */
  ms: number;
}

/** Options of {@linkcode startLoad}. */
export interface LoadOptions {
  /** The drill's name: oids are `<prefix>-<n>`. */
  prefix: string;
  /** The current Herald's base URL, or null while none is up. */
  url: () => string | null;
  /** Concurrent loops (default 24). */
  concurrency?: number;
  /** Pause after a failure or a refusal before the next oid (default 20 ms). */
  pauseMs?: number;
  /** Extra query text per request, e.g. padding. */
  extra?: (n: number) => string;
  /** Client-side limit on one request (default 15 s). */
  timeoutMs?: number;
  /**
   * A new connection per request (default: reused ones). Deno's fetch sends a
   * GET again, on a new connection, when the reused one it went out on
   * closes: after a kill -9 of one worker of several, that second copy
   * reaches a living worker, and an oid the dead worker had logged but not
   * answered is stored twice. The drills that kill one worker use this.
   */
  freshConnections?: boolean;
}

/** A running load. */
export interface Load {
  outcomes: Outcome[];
  /** Stops the loops and waits for requests in flight. */
  stop(): Promise<Outcome[]>;
}

/** Starts the load; see the module doc. */
export function startLoad(options: LoadOptions): Load {
  const outcomes: Outcome[] = [];
  const pauseMs = options.pauseMs ?? 20;
  const timeoutMs = options.timeoutMs ?? 15_000;
  let running = true;
  let n = 0;
  const client = options.freshConnections
    ? Deno.createHttpClient({ poolMaxIdlePerHost: 0 })
    : undefined;
  const loop = async () => {
    while (running) {
      const base = options.url();
      if (base === null) {
        await sleep(pauseMs);
        continue;
      }
      const i = n++;
      const oid = `${options.prefix}-${i}`;
      const extra = options.extra?.(i) ?? "";
      const sentAt = Date.now();
      let status = 0;
      try {
        const res = await fetch(`${base}/drill?oid=${oid}${extra}`, {
          signal: AbortSignal.timeout(timeoutMs),
          client,
        });
        await res.body?.cancel();
        status = res.status;
      } catch {
        status = 0;
      }
      outcomes.push({ oid, status, sentAt, ms: Date.now() - sentAt });
      if (status < 200 || status > 299) await sleep(pauseMs);
    }
  };
  const loops = Array.from({ length: options.concurrency ?? 24 }, loop);
  return {
    outcomes,
    async stop() {
      running = false;
      await Promise.all(loops);
      client?.close();
      return outcomes;
    },
  };
}

/** Counts of outcomes by kind. */
export interface LoadCounts {
  sent: number;
  ok: number;
  unavailable: number;
  other: number;
}

/** Counts `outcomes`: 2xx, 503/429, everything else. */
export function countOutcomes(outcomes: readonly Outcome[]): LoadCounts {
  let ok = 0, unavailable = 0, other = 0;
  for (const o of outcomes) {
    if (o.status >= 200 && o.status <= 299) ok++;
    else if (o.status === 503 || o.status === 429) unavailable++;
    else other++;
  }
  return { sent: outcomes.length, ok, unavailable, other };
}

/** Waits until `check` is true, polling every 50 ms; false after `timeoutMs`. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<boolean> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) return false;
    await sleep(50);
  }
  return true;
}

export { sleep };

/**
 * Errors a sink raises when it cannot take events. The HTTP layer maps them to
 * 503 with `Retry-After`: the client is told, never lied to.
 *
 * @module
 */

/** The sink cannot make the events durable now (down, timed out, or full). */
export class SinkUnavailableError extends Error {
  /** Seconds a client should wait before retrying. */
  readonly retryAfterS: number;

  constructor(message: string, options: { retryAfterS?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "SinkUnavailableError";
    this.retryAfterS = options.retryAfterS ?? 1;
  }
}

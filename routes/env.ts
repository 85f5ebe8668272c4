/**
 * The Hono environment of Herald's app: what every request carries from
 * middleware to route.
 *
 * @module
 */

/** Hono environment of Herald's app: Deno's connection info and the request id. */
export interface HeraldEnv {
  Bindings: { remoteAddr?: Deno.NetAddr } | undefined;
  /**
   * `source`: the name of the write key that authorized the request, when keys are on;
   * `rawBody`: the body as sent; `body`: the body decompressed, when it had a Content-Encoding.
   */
  Variables: { requestId: string; source?: string; rawBody?: Uint8Array; body?: Uint8Array };
}

/**
 * The bench's ceiling: a bare `Deno.serve` answering a constant string on
 * every path, so the same request mix can hit it as hits Herald.
 *
 * ```sh
 * deno run --allow-net tools/bench/ceiling.ts --port 8000
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";

/** The body every request gets, as Herald answers `/purchase_a_sword`. */
export const CEILING_BODY = "Sword Purchased!\n";

/** Serves the constant answer on `hostname:port` (port 0 picks a free one). */
export function serveCeiling(options: { port: number; hostname?: string }): Deno.HttpServer {
  const body = new TextEncoder().encode(CEILING_BODY);
  const headers = { "content-type": "text/plain; charset=UTF-8" };
  return Deno.serve({
    port: options.port,
    hostname: options.hostname ?? "127.0.0.1",
    onListen: ({ hostname, port }) => console.error(`ceiling listening on ${hostname}:${port}`),
  }, () => new Response(body, { headers }));
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { port: { type: "string", default: "8000" }, hostname: { type: "string" } },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`Invalid port "${values.port}": expected a number from 0 to 65535`);
    Deno.exit(1);
  }
  const server = serveCeiling({ port, hostname: values.hostname });
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(signal, () => void server.shutdown().then(() => Deno.exit(0)));
  }
}

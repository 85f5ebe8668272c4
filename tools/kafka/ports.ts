/**
 * Loopback ports for a node: whether one is free, and the choice of a
 * node's client and controller ports.
 *
 * @module
 */
import type { BrokerRecord } from "./status.ts";

/** Whether nothing listens on `port` of 127.0.0.1. */
export function portIsFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) return false;
    throw error;
  }
}

/** Picks the two ports, holding each candidate bound until both are chosen. */
export function choosePorts(
  wanted: { port?: number; controllerPort?: number },
  recorded: BrokerRecord | undefined,
): { port: number; controllerPort: number } {
  if (wanted.port && wanted.port === wanted.controllerPort) {
    throw new Error(`Cannot use port ${wanted.port} for both clients and the controller`);
  }
  const held: Deno.Listener[] = [];
  const hold = (port: number): boolean => {
    try {
      held.push(Deno.listen({ hostname: "127.0.0.1", port }));
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.AddrInUse) return false;
      throw error;
    }
  };
  const pick = (want: number | undefined, previous: number | undefined, what: string) => {
    if (want) {
      if (!hold(want)) {
        throw new Error(
          `Cannot use port ${want} for the Kafka ${what}: 127.0.0.1:${want} is in use`,
        );
      }
      return want;
    }
    if (previous && hold(previous)) return previous;
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    held.push(listener);
    return (listener.addr as Deno.NetAddr).port;
  };
  try {
    const port = pick(wanted.port, recorded?.port, "broker");
    const controllerPort = pick(wanted.controllerPort, recorded?.controllerPort, "controller");
    return { port, controllerPort };
  } finally {
    for (const listener of held) listener.close();
  }
}

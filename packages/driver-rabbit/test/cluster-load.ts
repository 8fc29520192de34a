/**
 * Load and observation for the cluster tests: paced sends with a counting
 * process() consumer, and a record of a connection's health and nodes.
 */
import { PacedLoad } from "@portable-pubsub/conformance";
import type { Health, Subscription, Topic } from "@portable-pubsub/core";
import type { RabbitConnection } from "@portable-pubsub/driver-rabbit";

/** Records every health change of `connection` and the node it was on when ready. */
export function watch(connection: RabbitConnection) {
  const states: Health["state"][] = [];
  const nodes: string[] = connection.node ? [connection.node.server] : [];
  connection.health.onChange((h) => {
    states.push(h.state);
    if (h.state === "ready" && connection.node) nodes.push(connection.node.server);
  });
  return {
    states,
    nodes,
    /** reconnecting at least once, each time followed by ready, and ready last (before the test closed it). */
    recovered(): boolean {
      const open = states.filter((s) => s !== "closed");
      return open.includes("reconnecting") && open.at(-1) === "ready";
    },
  };
}

/**
 * Paced load (the conformance kit's PacedLoad): `rate` sends a second
 * through `topic`, and a process() consumer on `subscription`; `finish`
 * requires every send to arrive.
 */
export function paced(topic: Topic, subscription: Subscription, rate: number) {
  const load = new PacedLoad(topic, subscription, rate);
  return {
    get sent() {
      return load.sent;
    },
    /** Stops the pacer (after a failure; finish stops it too). */
    stop() {
      load.stop();
    },
    /** Stops sending once at least `atLeast` were sent; waits for every send and every delivery. */
    async finish(atLeast: number) {
      const { total, sendingMs, failures } = await load.settle(atLeast);
      await load.allArrived(total);
      return {
        total,
        sendingMs,
        failures,
        distinct: load.distinct,
        duplicates: load.duplicates,
        processed: load.processed,
      };
    },
  };
}

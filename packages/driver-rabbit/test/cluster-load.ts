/**
 * Load and observation for the cluster tests: paced sends with a counting
 * process() consumer, and a record of a connection's health and nodes.
 */
import type { Health, Subscription, Topic } from "@portable-pubsub/core";
import type { RabbitConnection } from "@portable-pubsub/driver-rabbit";
import { waitFor } from "./support.js";

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
 * Paced load: `rate` sends a second, each one not awaited by the pacer (as
 * an application's requests would come), through `topic`, and a process()
 * consumer on `subscription` counting deliveries per body.
 */
export function paced(topic: Topic, subscription: Subscription, rate: number) {
  const sends: Promise<void>[] = [];
  const failures: unknown[] = [];
  const counts: number[] = [];
  let deliveries = 0;
  let distinct = 0;
  let settled = 0;
  const processing = subscription.process(
    (m) => {
      const i = Number(m.text());
      deliveries++;
      counts[i] = (counts[i] ?? 0) + 1;
      if (counts[i] === 1) distinct++;
    },
    { concurrency: 16 },
  );
  const processed = processing.then(
    () => "resolved",
    (err: unknown) => `rejected: ${String(err)}`,
  );
  const begun = Date.now();
  const pacer = setInterval(() => {
    const due = Math.floor(((Date.now() - begun) * rate) / 1000);
    while (sends.length < due) {
      const send = topic.send({ body: String(sends.length) }).then(
        () => {},
        (err: unknown) => {
          failures.push(err);
        },
      );
      sends.push(send.finally(() => settled++));
    }
  }, 20);
  return {
    get sent() {
      return sends.length;
    },
    /** Stops the pacer (after a failure; finish stops it too). */
    stop() {
      clearInterval(pacer);
    },
    /** Stops sending once at least `atLeast` were sent; waits for every send and every delivery. */
    async finish(atLeast: number) {
      await waitFor(() => sends.length >= atLeast, 120_000, `${atLeast} paced sends`);
      clearInterval(pacer);
      const total = sends.length;
      const sendingMs = Date.now() - begun;
      await waitFor(() => settled === total, 120_000, `all ${total} sends to settle (${settled} did)`);
      await waitFor(() => distinct === total, 60_000, `receiving ${total} messages (${distinct} arrived)`).catch(
        (err: Error) => {
          throw new Error(`${err.message}; missing: ${missingRanges(counts, total)}`);
        },
      );
      return { total, sendingMs, failures, distinct, duplicates: deliveries - distinct, processed };
    },
  };
}

/** The body numbers below `total` never delivered, as ranges ("12–40, 97"), for a failure's message. */
function missingRanges(counts: number[], total: number): string {
  const ranges: string[] = [];
  for (let i = 0; i < total; i++) {
    if (counts[i]) continue;
    let j = i;
    while (j + 1 < total && !counts[j + 1]) j++;
    ranges.push(i === j ? String(i) : `${i}–${j}`);
    i = j;
  }
  return ranges.slice(0, 20).join(", ") + (ranges.length > 20 ? ` and ${ranges.length - 20} more ranges` : "");
}

/**
 * Load for the Sentinel and Cluster tests: `rate` sends a second, not
 * awaited by the pacer (as an application's requests would come), and a
 * process() consumer counting deliveries per body. It tells acknowledged
 * sends that never arrived (lost) from sends that failed.
 */
import { PacedLoad } from "@portable-pubsub/conformance";
import type { Subscription, Topic } from "@portable-pubsub/core";
import { ask } from "./redis-processes.js";

export interface LoadResult {
  /** Sends made. */
  total: number;
  /** Sends that rejected. */
  failed: unknown[];
  /** Sends that resolved but whose message never arrived. */
  lost: number[];
  /** Sends that resolved. */
  acked: ReadonlySet<number>;
  /** Deliveries beyond the first of a message. */
  duplicates: number;
  /** How the process() call ended, once the test shut the subscription down. */
  processed: Promise<string>;
}

/** Paced load (the conformance kit's PacedLoad); `finish` counts acknowledged sends that never arrived as lost. */
export function pacedLoad(topic: Topic, subscription: Subscription, rate: number) {
  const load = new PacedLoad(topic, subscription, rate);
  return {
    get sent() {
      return load.sent;
    },
    get delivered() {
      return load.distinct;
    },
    stop() {
      load.stop();
    },
    /**
     * Stops sending once at least `atLeast` were sent; waits for every send
     * to settle, then for every acknowledged one to arrive, or (when some
     * never do) until deliveries stop for `quietMs`.
     */
    async finish(atLeast: number, quietMs = 5000): Promise<LoadResult> {
      const { total, failures, acked } = await load.settle(atLeast);
      const lost = await load.lostOf(acked, quietMs);
      return { total, failed: [...failures], lost, acked, duplicates: load.duplicates, processed: load.processed };
    },
  };
}

/**
 * The acknowledged sends whose message the stream no longer holds (XRANGE on
 * `port`, the master after the failover): what a failover lost, even if a
 * consumer got it from the old master before it died.
 */
export async function missingFromStream(port: number, stream: string, acked: ReadonlySet<number>): Promise<number[]> {
  const entries = (await ask(port, ["XRANGE", stream, "-", "+"])) as [string, string[]][];
  const bodies = new Set(entries.map(([, fields]) => Number(fields[fields.indexOf("body") + 1])));
  return [...acked].filter((i) => !bodies.has(i)).sort((a, b) => a - b);
}

/** The distinct messages of `errors`, for a failure's report. */
export function distinctMessages(errors: unknown[]): string[] {
  return [...new Set(errors.map((err) => (err instanceof Error ? err.message : String(err))))];
}

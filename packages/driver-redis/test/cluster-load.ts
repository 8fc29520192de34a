/**
 * Load for the Sentinel and Cluster tests: `rate` sends a second, not
 * awaited by the pacer (as an application's requests would come), and a
 * process() consumer counting deliveries per body. It tells acknowledged
 * sends that never arrived (lost) from sends that failed.
 */
import type { Subscription, Topic } from "@portable-pubsub/core";
import { ask, until } from "./redis-processes.js";

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

export function pacedLoad(topic: Topic, subscription: Subscription, rate: number) {
  const sends: Promise<void>[] = [];
  const failed: unknown[] = [];
  const acked = new Set<number>();
  const counts = new Map<number, number>();
  let deliveries = 0;
  let settled = 0;
  const processing = subscription.process(
    (m) => {
      const i = Number(m.text());
      deliveries++;
      counts.set(i, (counts.get(i) ?? 0) + 1);
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
      const i = sends.length;
      const send = topic.send({ body: String(i) }).then(
        () => {
          acked.add(i);
        },
        (err: unknown) => {
          failed.push(err);
        },
      );
      sends.push(send.finally(() => settled++));
    }
  }, 20);
  return {
    get sent() {
      return sends.length;
    },
    get delivered() {
      return counts.size;
    },
    stop() {
      clearInterval(pacer);
    },
    /**
     * Stops sending once at least `atLeast` were sent; waits for every send
     * to settle, then for every acknowledged one to arrive, or (when some
     * never do) until deliveries stop for `quietMs`.
     */
    async finish(atLeast: number, quietMs = 5000): Promise<LoadResult> {
      await until(() => sends.length >= atLeast, 120_000, `${atLeast} paced sends`);
      clearInterval(pacer);
      const total = sends.length;
      await until(() => settled === total, 90_000, `all ${total} sends to settle (${settled} did)`);
      let last = -1;
      let since = Date.now();
      await until(
        () => {
          if ([...acked].every((i) => counts.has(i))) return true;
          if (deliveries !== last) {
            last = deliveries;
            since = Date.now();
          }
          return Date.now() - since > quietMs;
        },
        90_000,
        "deliveries to arrive or stop",
      );
      const lost = [...acked].filter((i) => !counts.has(i)).sort((a, b) => a - b);
      return { total, failed, lost, acked, duplicates: deliveries - counts.size, processed };
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

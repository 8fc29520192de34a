/**
 * Paced load on a replicated stream of the test's JetStream cluster, for
 * the failover tests: a topic and a subscription opened by URL (the
 * subscription declares the consumer with the in-flight window), the
 * conformance kit's PacedLoad between them, and at the end what the load
 * and the stream saw: sends, failures, messages lost, duplicates
 * delivered, and how many messages the stream holds.
 */
import { randomUUID } from "node:crypto";
import { healthStates, PacedLoad } from "@portable-pubsub/conformance";
import { openSubscription, openTopic, type Subscription, type Topic } from "@portable-pubsub/core";
import type { NatsCluster } from "./cluster-harness.js";

/** Sends a second, as the issue asks of every cluster test. */
export const RATE = 400;
/**
 * The consumer's in-flight window (`maxAckPending`): the most messages
 * delivered and not acked at once. A failover can lose at most the acks of
 * these, so they bound the duplicates one fault may deliver.
 */
export const WINDOW = 500;

/** A stream name unique to this run. */
export function uniqueStream(prefix: string): string {
  return `pps_${prefix}_${randomUUID().slice(0, 8)}`;
}

export interface LoadOutcome {
  total: number;
  failures: string[];
  /** Bodies never delivered (ranges), "" when none. */
  missing: string;
  distinct: number;
  duplicates: number;
  /** The messages the stream holds: `total` when each send is stored once (resends removed by Nats-Msg-Id). */
  stored: number;
  /** How the process() call ended once the subscription was shut down: "resolved" or "rejected: …". */
  processed: string;
  /** The health states the topic and the subscription went through, up to the shutdown. */
  health: { topic: string[]; subscription: string[] };
}

/**
 * Opens a topic on subject `stream` and a subscription on consumer "c" of
 * stream `stream` (created with 3 replicas by the topic's declare), both
 * connected first to `first` (in server order, not shuffled), and starts
 * the paced load.
 */
export async function startLoad(cluster: NatsCluster, stream: string, first?: string) {
  const servers = cluster.nodes.map((n) => n.url).sort((a, b) => Number(b === first) - Number(a === first));
  const options = { serverUrl: servers.join(","), natsOptions: { noRandomize: first !== undefined } };
  const topic: Topic = await openTopic(`nats://${stream}?declare=true&replicas=3`, options);
  let subscription: Subscription | undefined;
  try {
    subscription = await openSubscription(
      `nats://${stream}?consumer=c&declare=true&replicas=3&ackDeadline=5s&maxAckPending=${WINDOW}`,
      options,
    );
  } catch (err) {
    await topic.shutdown({ signal: AbortSignal.timeout(10_000) });
    throw err;
  }
  const health = { topic: healthStates(topic), subscription: healthStates(subscription) };
  const load = new PacedLoad(topic, subscription, RATE);
  const opened = subscription;
  let closing: Promise<void> | undefined;
  return {
    topic,
    subscription: opened,
    load,
    /**
     * Stops sending once `atLeast` were sent, waits for every send to settle
     * and every message to arrive, then shuts both down (every promise
     * settles) and deletes the stream.
     */
    async finish(atLeast: number): Promise<LoadOutcome> {
      try {
        const { total, failures } = await load.settle(atLeast);
        const missing = await load.allArrived(total, 60_000).then(
          () => "",
          () => load.missingRanges(total),
        );
        const stored = Number((await cluster.streamInfo(stream)).state.messages);
        const errors = [...new Set(failures.map((e) => (e instanceof Error ? e.message : String(e))))];
        const { distinct, duplicates } = load;
        const seen = { topic: [...health.topic], subscription: [...health.subscription] };
        await this.close();
        const processed = await load.processed;
        return { total, failures: errors, missing, distinct, duplicates, stored, processed, health: seen };
      } finally {
        await this.close();
      }
    },
    /** Shuts both down and deletes the stream, whatever failed before; once. */
    close(): Promise<void> {
      closing ??= (async () => {
        load.stop();
        await Promise.allSettled([
          topic.shutdown({ signal: AbortSignal.timeout(10_000) }),
          opened.shutdown({ signal: AbortSignal.timeout(10_000) }),
        ]);
        await (await cluster.jsm()).streams.delete(stream).catch(() => {});
      })();
      return closing;
    },
  };
}

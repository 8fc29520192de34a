/**
 * Delayed redelivery across a broker restart, on a RabbitMQ node of this
 * file's own (harness: cluster.ts, one node; the shared broker is never
 * touched): a message failed with a 10 s delay waits in its durable delay
 * queue through stop_app / start_app and arrives again exactly once; and
 * the original is acked only after the broker confirmed its copy — while a
 * memory alarm blocks the publishing connection, the original stays unacked
 * on the consumer (which an alarm does not block) and the delay queue stays
 * empty. Without the node (RabbitMQ cannot start here in time) the file
 * skips, or fails with CI=true.
 */
import type { Message, Subscription } from "@portable-pubsub/core";
import { openRabbitSubscription, openRabbitTopic } from "@portable-pubsub/driver-rabbit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bucketOf, delayQueueName } from "../dist/delay-queues.js";
import { type ClusterNode, RabbitCluster } from "./cluster.js";
import { cleanupAfterEach, sleep, unique } from "./support.js";

const started = Date.now();
let cluster: RabbitCluster | undefined;
let startFailure: unknown;
try {
  cluster = await RabbitCluster.start(1, 90_000);
  console.info(`[rabbit restart-redelivery] node up in ${Date.now() - started} ms`);
} catch (err) {
  startFailure = err;
}

const { shutdownLater } = cleanupAfterEach();
const node = () => cluster?.nodes[0] as ClusterNode;
const ctl = (...args: string[]) => (cluster as RabbitCluster).ctl(node(), args);

/** Ready and unacked messages of `queue` on the node, or undefined if it does not exist. */
async function counts(queue: string): Promise<{ ready: number; unacked: number } | undefined> {
  const out = await ctl("list_queues", "--quiet", "name", "messages_ready", "messages_unacknowledged");
  const row = out
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .find(([name]) => name === queue);
  return row ? { ready: Number(row[1]), unacked: Number(row[2]) } : undefined;
}

/** A durable classic queue on the node, its subscription, and a topic that sends to it (persistent). */
async function openQueue(name: string, heartbeat: number) {
  const queue = unique(name);
  const settings = { serverUrl: node().url, heartbeat, reconnectMaxDelayMs: 500 };
  const subscription = openRabbitSubscription(settings, queue, { declare: true });
  const topic = openRabbitTopic(settings, "", { routingKey: queue });
  shutdownLater(subscription, topic);
  await subscription.ready({ signal: AbortSignal.timeout(20_000) });
  return { queue, subscription, topic };
}

/** Every message that arrives within `ms`. */
async function drain(subscription: Subscription, ms: number): Promise<Message[]> {
  const got: Message[] = [];
  const deadline = Date.now() + ms;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) return got;
    const message = await subscription.receive({ signal: AbortSignal.timeout(left) }).catch(() => undefined);
    if (!message) return got;
    got.push(message);
    message.ack();
  }
}

describe.skipIf(!cluster && !process.env.CI)("rabbit redelivery across a broker restart", () => {
  beforeAll(() => {
    if (!cluster) throw new Error(`the RabbitMQ node did not start: ${String(startFailure)}`);
  });
  afterAll(async () => {
    await cluster?.close();
  });

  // The delay leaves room for rabbitmqctl, which starts an Erlang VM per call: on a loaded machine one call has
  // taken over a second, and a 3 s delay ran out before the broker was stopped.
  it("keeps a message failed with a 10 s delay through a restart, and delivers it again exactly once", async () => {
    const delayMs = 10_000;
    const { queue, subscription, topic } = await openQueue("restart-delay", 1);
    await topic.send({ body: "survivor", metadata: { kind: "delayed" } });
    const first = await subscription.receive({ signal: AbortSignal.timeout(5000) });
    const failedAt = Date.now();
    first.nack({ delayMs });
    const delayQueue = delayQueueName(queue, bucketOf(delayMs));
    // The copy is in the delay queue and the original acked: only the copy is left on the broker.
    let parked = await counts(delayQueue);
    while (parked?.ready !== 1 && Date.now() - failedAt < 6000) parked = await counts(delayQueue);
    expect(parked).toEqual({ ready: 1, unacked: 0 });
    expect(await counts(queue)).toEqual({ ready: 0, unacked: 0 });
    const stoppedAt = Date.now();
    await ctl("stop_app");
    await ctl("start_app");
    console.info(
      `[rabbit restart-redelivery] stop_app ${stoppedAt - failedAt} ms into the ${delayMs} ms delay, ` +
        `started again after ${Date.now() - failedAt} ms`,
    );
    expect(stoppedAt - failedAt).toBeLessThan(delayMs);
    // At least 4 s after the restart: on a loaded machine start_app alone has taken over 5 s.
    const got = await drain(subscription, Math.max(delayMs + 4000 - (Date.now() - failedAt), 4000));
    const cameBackAfter = Date.now() - failedAt;
    expect(got.map((m) => [m.text(), m.metadata])).toEqual([["survivor", { kind: "delayed" }]]);
    // 2, or 3 where start_app outlasted the delay and the copy's first delivery went down with a channel that
    // the consumer was still reopening (the broker then sets its redelivered flag): seen on a loaded machine.
    expect(got[0]?.deliveryAttempt).toBeGreaterThanOrEqual(2);
    expect(got[0]?.deliveryAttempt).toBeLessThanOrEqual(3);
    expect(cameBackAfter).toBeGreaterThanOrEqual(delayMs - 300);
  });

  it("acks the original only after the broker confirmed its copy", async () => {
    const { queue, subscription, topic } = await openQueue("confirm-first", 5);
    await topic.send({ body: "held" });
    const first = await subscription.receive({ signal: AbortSignal.timeout(5000) });
    // The alarm blocks connections that publish (the copy's); the consumer's, which only acks, goes on.
    await ctl("set_vm_memory_high_watermark", "0.0000001");
    try {
      await sleep(1000);
      first.nack({ delayMs: 500 });
      await sleep(1500);
      expect(await counts(queue)).toEqual({ ready: 0, unacked: 1 });
      const parked = await counts(`${queue}.pubsub-delay.512`);
      expect(parked?.ready ?? 0).toBe(0);
    } finally {
      await ctl("set_vm_memory_high_watermark", "0.4");
    }
    const got = await drain(subscription, 3000);
    expect(got.map((m) => [m.text(), m.deliveryAttempt])).toEqual([["held", 2]]);
    expect(await counts(queue)).toEqual({ ready: 0, unacked: 0 });
  });
});

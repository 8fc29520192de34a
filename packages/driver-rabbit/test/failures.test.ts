/**
 * Failures, not deliveries, on a quorum queue, whose x-delivery-count
 * counts every return to the queue: graceful restarts that hand held
 * messages back dead-letter nothing, and a message that kills its consumer
 * on every delivery is dead-lettered after `maxDeliveries`.
 */
import { fileURLToPath } from "node:url";
import { crashLoop, expectEndedAtMaxDeliveries } from "@portable-pubsub/conformance";
import { type Message, openSubscription, openTopic } from "@portable-pubsub/core";
import { delayQueueNames as delayQueuesOf } from "@portable-pubsub/driver-rabbit";
import { describe, expect, it } from "vitest";
import { cleanupAfterEach, makeExchangeAndQueue, SERVER_URL, skipWithoutBroker, unique, withAdmin } from "./support.js";

const { defer, shutdownLater } = cleanupAfterEach();
const serverUrl = SERVER_URL;
// Dead-letter URLs are opened with no options of their own (and the crash loop's children inherit it).
process.env.RABBIT_SERVER_URL = SERVER_URL;

/** A quorum queue bound to a fresh exchange, and a dead-letter exchange with a queue; all removed after the test. */
async function quorumWithDeadLetters(name: string) {
  const exchange = unique(name);
  const queue = unique(name);
  const deadLetterExchange = unique(`${name}-dlx`);
  const deadLetterQueue = unique(`${name}-dlq`);
  defer(await makeExchangeAndQueue(deadLetterExchange, deadLetterQueue));
  defer(() =>
    withAdmin(async (ch) => {
      // The exchange first: a failed queue delete closes the channel, and once skipped the exchange's delete.
      await ch.deleteExchange(exchange).catch(() => {});
      await ch.deleteQueue(queue).catch(() => {});
      for (const delayQueue of delayQueuesOf(queue)) await ch.deleteQueue(delayQueue).catch(() => {});
    }),
  );
  const url = `rabbit://${queue}?declare=true&queueType=quorum&exchange=${exchange}`;
  // Declares the queue and its binding before anything is sent.
  const first = await openSubscription(url, { serverUrl });
  await first.shutdown();
  const topic = await openTopic(`rabbit://${exchange}`, { serverUrl });
  const deadLetters = await openSubscription(`rabbit://${deadLetterQueue}`, { serverUrl });
  shutdownLater(topic, deadLetters);
  return { url, topic, deadLetters, deadLetter: `rabbit://${deadLetterQueue}?toQueue=true` };
}

describe.skipIf(skipWithoutBroker)("rabbit quorum queue: failures, not deliveries", () => {
  it("dead-letters nothing held through ten graceful restarts with maxAttempts 3", async () => {
    const { url, topic, deadLetters, deadLetter } = await quorumWithDeadLetters("restarts");
    const options = { serverUrl, redelivery: { maxAttempts: 3 }, deadLetter };
    await Promise.all(Array.from({ length: 30 }, (_, i) => topic.send({ body: `m-${i}` })));
    const handled: Message[] = [];
    const receive = async (subscription: Awaited<ReturnType<typeof openSubscription>>) => {
      const message = await subscription.receive({ signal: AbortSignal.timeout(5000) });
      message.ack();
      handled.push(message);
    };
    for (let restart = 1; restart <= 10; restart++) {
      const subscription = await openSubscription(url, options);
      await receive(subscription);
      await receive(subscription);
      await subscription.shutdown();
    }
    const last = await openSubscription(url, options);
    shutdownLater(last);
    while (handled.length < 30) await receive(last);
    expect(handled.map((m) => m.text()).sort()).toEqual(Array.from({ length: 30 }, (_, i) => `m-${i}`).sort());
    // Held through every restart: the queue counted each return as a delivery.
    expect(Math.max(...handled.map((m) => m.deliveryAttempt ?? 0))).toBeGreaterThan(10);
    await expect(deadLetters.receive({ signal: AbortSignal.timeout(500) })).rejects.toThrow();
  });

  it("dead-letters a message that kills its consumer on every delivery once past maxDeliveries", async () => {
    const { url, topic, deadLetters, deadLetter } = await quorumWithDeadLetters("crash-loop");
    await topic.send({ body: "kills its consumer", metadata: { orderId: "7" } });
    const result = await crashLoop({
      url,
      options: { serverUrl, redelivery: { maxAttempts: 3, maxDeliveries: 4 }, deadLetter },
      cwd: fileURLToPath(new URL("..", import.meta.url)),
      deadLetters,
    });
    // Four deliveries, each of which killed its process; the fifth is dead-lettered without its handler.
    expectEndedAtMaxDeliveries(result, 4);
    expect([result.deadLetter.text(), result.deadLetter.metadata.orderId]).toEqual(["kills its consumer", "7"]);
  });
});

/**
 * Queue types without hand-written topology, against the shared broker (a
 * single node runs quorum queues and streams too): `queueType=quorum` and
 * `stream` declare what they say, and `deliveryAttempt` follows a quorum
 * queue's x-delivery-count, which the queue keeps across consumer restarts.
 * The cluster itself is in restart-cluster.test.ts.
 */
import { openSubscription, openTopic, type Subscription } from "@portable-pubsub/core";
import { delayQueueNames as delayQueuesOf } from "@portable-pubsub/driver-rabbit";
import { describe, expect, it } from "vitest";
import { cleanupAfterEach, rabbitmqctl, SERVER_URL, skipWithoutBroker, unique, withAdmin } from "./support.js";

const { defer, shutdownLater } = cleanupAfterEach();
const options = { serverUrl: SERVER_URL };

/** The queue's type as the broker lists it. */
async function typeOf(queue: string): Promise<string | undefined> {
  const lines = (await rabbitmqctl("list_queues", "--quiet", "--no-table-headers", "name", "type")).split("\n");
  return lines.map((line) => line.trim().split(/\s+/)).find(([name]) => name === queue)?.[1];
}

function deleteLater(exchange: string, queue: string): void {
  defer(() =>
    withAdmin(async (ch) => {
      await ch.deleteQueue(queue).catch(() => {});
      // A nack redelivers through a delay queue (the default policy's delay).
      for (const name of delayQueuesOf(queue)) await ch.deleteQueue(name);
      await ch.deleteExchange(exchange).catch(() => {});
    }),
  );
}

async function openPair(exchange: string, queue: string, queueType: string) {
  const subscription = await openSubscription(
    `rabbit://${queue}?declare=true&queueType=${queueType}&exchange=${exchange}`,
    options,
  );
  const topic = await openTopic(`rabbit://${exchange}?declare=true`, options);
  shutdownLater(topic);
  return { subscription, topic };
}

const receive = (subscription: Subscription) => subscription.receive({ signal: AbortSignal.timeout(5000) });

describe.skipIf(skipWithoutBroker)("rabbit queue types", () => {
  it("declares a quorum queue with queueType=quorum; deliveryAttempt counts nacks and consumer restarts", async () => {
    const exchange = unique("quorum");
    const queue = unique("quorum");
    deleteLater(exchange, queue);
    const { subscription, topic } = await openPair(exchange, queue, "quorum");
    expect(await typeOf(queue)).toBe("quorum");
    await topic.send({ body: "counted" });

    const first = await receive(subscription);
    expect([first.text(), first.deliveryAttempt]).toEqual(["counted", 1]);
    first.nack();
    const second = await receive(subscription);
    expect([second.text(), second.deliveryAttempt]).toEqual(["counted", 2]);
    // Not acked: the consumer goes away (its connection too, as its last user), and the queue takes the message back.
    await subscription.shutdown({ signal: AbortSignal.timeout(5000) });

    const again = await openSubscription(`rabbit://${queue}?declare=true&queueType=quorum`, options);
    shutdownLater(again);
    const third = await receive(again);
    expect([third.text(), third.deliveryAttempt]).toEqual(["counted", 3]);
    third.ack();
  });

  it("counts a classic queue's redelivery after a nack as attempt 2 (its redelivered flag)", async () => {
    const exchange = unique("classic");
    const queue = unique("classic");
    deleteLater(exchange, queue);
    const { subscription, topic } = await openPair(exchange, queue, "classic");
    shutdownLater(subscription);
    expect(await typeOf(queue)).toBe("classic");
    await topic.send({ body: "flagged" });
    const first = await receive(subscription);
    expect(first.deliveryAttempt).toBe(1);
    first.nack();
    const second = await receive(subscription);
    expect([second.text(), second.deliveryAttempt]).toEqual(["flagged", 2]);
    second.ack();
  });

  it("declares a stream with queueType=stream and consumes it", async () => {
    const exchange = unique("stream");
    const queue = unique("stream");
    deleteLater(exchange, queue);
    const { subscription, topic } = await openPair(exchange, queue, "stream");
    shutdownLater(subscription);
    expect(await typeOf(queue)).toBe("stream");
    await topic.send({ body: "logged" });
    const message = await receive(subscription);
    expect(message.text()).toBe("logged");
    message.ack();
  });
});

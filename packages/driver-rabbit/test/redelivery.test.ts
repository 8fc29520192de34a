/**
 * Poison messages on the shared broker: a failed message comes back through
 * a delay queue no sooner than its delay, `deliveryAttempt` counts 1, 2, 3, 4
 * across copies, delay queues and a consumer restart on classic and quorum
 * queues, failed messages do not hold the prefetch window against a good
 * one, and delay queues are durable and expire. Every queue of this file
 * starts with one prefix and is deleted after it, delay queues included.
 * Broker restarts are in restart-redelivery.test.ts.
 */
import { randomUUID } from "node:crypto";
import type { Message, Subscription } from "@portable-pubsub/core";
import {
  openRabbitSubscription,
  openRabbitTopic,
  type RabbitSubscriptionOptions,
} from "@portable-pubsub/driver-rabbit";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupAfterEach, rabbitmqctl, SERVER_URL, skipWithoutBroker, sleep, withAdmin } from "./support.js";

const { shutdownLater } = cleanupAfterEach();
const settings = { serverUrl: SERVER_URL };
const prefix = `pps-test-redeliver-${randomUUID().slice(0, 8)}`;
let count = 0;
const queueName = (name: string) => `${prefix}-${name}-${++count}`;

/** A queue (declared by the subscription) and a topic that sends to it through the default exchange. */
function openQueue(name: string, options: RabbitSubscriptionOptions & { queueType?: "classic" | "quorum" } = {}) {
  const queue = queueName(name);
  const { queueType = "classic", ...rest } = options;
  const subscription = openRabbitSubscription(settings, queue, { declare: { queueType }, ...rest });
  const topic = openRabbitTopic(settings, "", { routingKey: queue });
  shutdownLater(topic);
  return { queue, subscription, topic };
}

const receive = (subscription: Subscription, timeoutMs = 5000) =>
  subscription.receive({ signal: AbortSignal.timeout(timeoutMs) });

/** Resolves with a message if one arrives within `ms`, else undefined. */
async function nothingWithin(subscription: Subscription, ms: number): Promise<Message | undefined> {
  return receive(subscription, ms).catch(() => undefined);
}

describe.skipIf(skipWithoutBroker)("rabbit redelivery", () => {
  afterAll(async () => {
    // Every queue of this file, delay queues included, whatever a test left.
    const listed = await rabbitmqctl("list_queues", "--quiet", "name").catch(() => "");
    const names = listed
      .split("\n")
      .map((line) => line.trim())
      .filter((name) => name.startsWith(prefix));
    await withAdmin(async (ch) => {
      for (const name of names) await ch.deleteQueue(name).catch(() => {});
    });
  });

  it("brings a failed message back no sooner than its delay, through a delay queue", async () => {
    const { subscription, topic } = openQueue("delay");
    shutdownLater(subscription);
    await subscription.ready();
    await topic.send({ body: "later", metadata: { kind: "delayed" } });
    const first = await receive(subscription);
    const failedAt = Date.now();
    first.nack({ delayMs: 600 });
    const again = await receive(subscription);
    const waited = Date.now() - failedAt;
    console.info(`[rabbit redelivery] nack({ delayMs: 600 }) came back after ${waited} ms (bucket 640 ms)`);
    expect(waited).toBeGreaterThanOrEqual(540);
    expect(waited).toBeLessThan(1500);
    expect([again.text(), again.metadata, again.loggableId, again.deliveryAttempt]).toEqual([
      "later",
      { kind: "delayed" },
      first.loggableId,
      2,
    ]);
    again.ack();
    expect(await nothingWithin(subscription, 300)).toBeUndefined();
  });

  for (const queueType of ["classic", "quorum"] as const) {
    it(`counts attempts 1, 2, 3, 4 on a ${queueType} queue: copy, delay queue, consumer restart`, async () => {
      const { queue, subscription, topic } = openQueue(queueType, { queueType });
      await subscription.ready();
      await topic.send({ body: "counted", metadata: { kind: "poison" } });
      const seen: [string, Record<string, string>, string, number | undefined][] = [];
      const note = (m: Message) => seen.push([m.text(), { ...m.metadata }, m.loggableId, m.deliveryAttempt]);

      const first = await receive(subscription);
      note(first);
      first.nack({ delayMs: 0 }); // a copy straight back to the queue
      const second = await receive(subscription);
      note(second);
      second.nack({ delayMs: 50 }); // a copy through the delay queue, which adds x-death on its way back
      const third = await receive(subscription);
      note(third);
      // Not settled: the consumer goes away, and the queue takes the copy back (redelivered, or x-delivery-count 1).
      await subscription.shutdown({ signal: AbortSignal.timeout(5000) });

      const again = openRabbitSubscription(settings, queue, { declare: { queueType } });
      shutdownLater(again);
      const fourth = await receive(again);
      note(fourth);
      fourth.ack();
      const id = first.loggableId;
      expect(seen).toEqual([1, 2, 3, 4].map((n) => ["counted", { kind: "poison" }, id, n]));
      expect(await nothingWithin(again, 300)).toBeUndefined();
    });
  }

  it("lets a good message past 100 failing ones with prefetch 5, within 2 s", async () => {
    const { subscription, topic } = openQueue("starve", {
      prefetch: 5,
      redelivery: { initialDelayMs: 5000, maxDelayMs: 5000 },
    });
    shutdownLater(subscription);
    await subscription.ready();
    await Promise.all(Array.from({ length: 100 }, (_, i) => topic.send({ body: `bad ${i}` })));
    await topic.send({ body: "good" });
    let failures = 0;
    let goodAfter: number | undefined;
    const started = Date.now();
    const processing = subscription.process(
      async (m) => {
        if (m.text() === "good") {
          goodAfter = Date.now() - started;
          return;
        }
        failures++;
        throw new Error("poison");
      },
      { concurrency: 5 },
    );
    processing.catch(() => {});
    const deadline = Date.now() + 5000;
    while (goodAfter === undefined && Date.now() < deadline) await sleep(20);
    console.info(`[rabbit redelivery] good message after ${goodAfter} ms, behind ${failures} failed deliveries`);
    expect(goodAfter).toBeDefined();
    expect(goodAfter).toBeLessThan(2000);
    expect(failures).toBeGreaterThanOrEqual(100);
  });

  it("declares durable delay queues that expire once unused", async () => {
    const expiresMs = 1500;
    const { queue, subscription, topic } = openQueue("expiry", { delayQueueExpiresMs: expiresMs });
    shutdownLater(subscription);
    await subscription.ready();
    await topic.send({ body: "parked" });
    const first = await receive(subscription);
    first.nack({ delayMs: 200 }); // bucket 224 ms
    const again = await receive(subscription);
    again.ack();
    const delayQueue = `${queue}.pubsub-delay.224`;
    // The broker refuses (406) a declaration that differs in durability or arguments from the queue there.
    await withAdmin(async (ch) => {
      const ok = await ch.assertQueue(delayQueue, {
        durable: true,
        arguments: {
          "x-queue-type": "classic",
          "x-message-ttl": 224,
          "x-dead-letter-exchange": "",
          "x-dead-letter-routing-key": queue,
          "x-expires": expiresMs,
        },
      });
      expect([ok.queue, ok.messageCount]).toEqual([delayQueue, 0]);
    });
    const declaredAt = Date.now();
    // Any look at the queue (even a passive declare) counts as use: look once, after its expiry.
    await sleep(declaredAt + expiresMs + 700 - Date.now());
    const gone = await withAdmin((ch) =>
      ch.checkQueue(delayQueue).then(
        () => "still there",
        (err: { code?: number }) => err.code,
      ),
    );
    expect(gone).toBe(404);
  });
});

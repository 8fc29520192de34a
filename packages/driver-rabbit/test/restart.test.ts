/**
 * Fault test (c) of issue 3: the broker restarts mid-stream (rabbitmqctl
 * stop_app / start_app) under a durable queue and persistent messages, and
 * nothing is lost. This file owns broker restarts: it always leaves the
 * broker running.
 */
import { openRabbitSubscription, openRabbitTopic } from "@portable-pubsub/driver-rabbit";
import { afterAll, describe, expect, it } from "vitest";
import { makeExchangeAndQueue, rabbitmqctl, SERVER_URL, skipWithoutBroker, sleep, unique, waitFor } from "./support.js";

describe.skipIf(skipWithoutBroker)("rabbit broker restart", () => {
  afterAll(async () => {
    // Whatever happened above, the broker must be left running for everyone else.
    await rabbitmqctl("start_app").catch(() => {});
    await rabbitmqctl("await_startup").catch(() => {});
  });

  it("(c) loses nothing when the broker restarts mid-stream (durable queue, persistent messages)", async () => {
    const exchange = unique("restart");
    const queue = unique("restart");
    const cleanup = await makeExchangeAndQueue(exchange, queue, { durable: true });
    const settings = { serverUrl: SERVER_URL, heartbeat: 1, reconnectMaxDelayMs: 500 };
    const topic = openRabbitTopic(settings, exchange);
    const subscription = openRabbitSubscription(settings, queue, { prefetch: 50 });
    const states: string[] = [];
    topic.onHealthChange((h) => states.push(h.state));
    try {
      let next = 0;
      let stopAt = Number.POSITIVE_INFINITY;
      const failures: unknown[] = [];
      const seen = new Set<string>();
      let deliveries = 0;
      // A slow consumer, so that a backlog sits in the queue when the broker goes down.
      const processing = subscription.process(
        async (m) => {
          deliveries++;
          seen.add(m.text());
          await sleep(1);
        },
        { concurrency: 2 },
      );
      processing.catch(() => {});
      const sending = Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < stopAt) {
            const n = next++;
            await topic.send({ body: String(n) }).catch((err: unknown) => failures.push(err));
            if (n % 20 === 0) await sleep(2);
          }
        }),
      );
      await sleep(500);
      const beforeStop = next;
      const backlogBefore = beforeStop - seen.size;
      await rabbitmqctl("stop_app");
      await sleep(500);
      await rabbitmqctl("start_app");
      await waitFor(() => topic.health.state === "ready", 30_000, "the topic to reconnect");
      stopAt = next + 500;
      await sending;
      const total = stopAt;
      await waitFor(() => seen.size >= total, 60_000, `receiving ${total} messages`);
      console.info(
        `[rabbit (c)] ${total} sent (${beforeStop} before stop_app, backlog ~${backlogBefore}), ` +
          `${seen.size} distinct received, ${deliveries - seen.size} duplicates`,
      );
      expect(failures).toEqual([]);
      expect(seen.size).toBe(total);
      expect(backlogBefore).toBeGreaterThan(0);
      expect(states).toContain("reconnecting");
    } finally {
      await rabbitmqctl("start_app").catch(() => {});
      await Promise.all([
        topic.shutdown({ signal: AbortSignal.timeout(5000) }).catch(() => {}),
        subscription.shutdown({ signal: AbortSignal.timeout(5000) }).catch(() => {}),
      ]);
      await cleanup();
    }
  });
});

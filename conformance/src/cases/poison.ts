import type { Message } from "@portable-pubsub/core/driver";
import { expect, it } from "vitest";
import type { SuiteContext } from "../context.js";
import { watchEventLoop } from "../test-kit.js";

/** A body that is not UTF-8, so that a dead letter's bytes are checked, not its text. */
const POISON_BODY = new Uint8Array([0x70, 0x6f, 0x69, 0x73, 0x6f, 0x6e, 0xff, 0x00, 0xfe]);

/**
 * Poison messages: delivery attempts, redelivery delays, dead letters, a
 * free event loop while a message keeps failing, good messages flowing past
 * failing ones, and leases kept while a slow handler runs.
 */
export function poisonCases(ctx: SuiteContext): void {
  it("counts delivery attempts from 1", async ({ skip }) => {
    if (!ctx.caps.canNack) skip(`${ctx.caps.name} cannot nack`);
    const { topic, subscription } = await ctx.pair("attempts");
    await topic.send({ body: "again and again" });
    const attempts: (number | undefined)[] = [];
    for (let i = 0; i < 3; i++) {
      const [message] = await ctx.receiveN(subscription, 1, { ack: false });
      attempts.push(message?.deliveryAttempt);
      if (i < 2) message?.nack({ delayMs: 0 });
      else message?.ack();
    }
    expect(attempts).toEqual([1, 2, 3]);
  });

  it("redelivers a nacked message no earlier than its delay", async ({ skip }) => {
    if (!ctx.caps.canNack) skip(`${ctx.caps.name} cannot nack`);
    const delayMs = 1500;
    const { topic, subscription } = await ctx.pair("nack-delay");
    await topic.send({ body: "later" });
    const [first] = await ctx.receiveN(subscription, 1, { ack: false });
    const nackedAt = Date.now();
    first?.nack({ delayMs });
    const [second] = await ctx.receiveN(subscription, 1, { timeoutMs: ctx.receiveTimeoutMs + delayMs });
    expect(second?.text()).toBe("later");
    expect(Date.now() - nackedAt).toBeGreaterThanOrEqual(delayMs * 0.9);
    expect(second?.deliveryAttempt).toBe(2);
  });

  it("dead-letters a message after exactly maxAttempts, with its bytes and the dead-letter metadata", async ({
    skip,
  }) => {
    if (!ctx.caps.canNack && ctx.caps.ackDeadlineMs === undefined) {
      skip(`${ctx.caps.name} cannot nack and has no ack deadline`);
    }
    const deadLetters = await ctx.openTopic("dead-letters");
    const deadLetterSub = await ctx.openSubscription(deadLetters, "dead-letters");
    const maxAttempts = 3;
    const { topic, subscription, openedSubscription } = await ctx.pair("dead-letter", undefined, {
      redelivery: { maxAttempts, initialDelayMs: 10, maxDelayMs: 50 },
      deadLetter: deadLetters.topic,
    });
    await topic.send({ id: "order-17/poison", body: POISON_BODY, metadata: { orderId: "17", note: "ünïcode ✓" } });
    const attempts: (number | undefined)[] = [];
    const ids: string[] = [];
    const processing = subscription.process((message) => {
      attempts.push(message.deliveryAttempt);
      ids.push(message.id);
      throw new Error("handler failed: poison");
    });
    const [dead] = await ctx.receiveN(deadLetterSub.subscription, 1, {
      timeoutMs: ctx.receiveTimeoutMs + maxAttempts * (ctx.caps.canNack ? 100 : (ctx.caps.ackDeadlineMs ?? 0)),
    });
    expect(Array.from(dead?.body ?? [])).toEqual(Array.from(POISON_BODY));
    // The dead letter is the same message: it keeps its id.
    expect(dead?.id).toBe("order-17/poison");
    const { "deadletter.time": time, ...metadata } = dead?.metadata ?? {};
    expect(metadata).toEqual({
      orderId: "17",
      note: "ünïcode ✓",
      "deadletter.source": openedSubscription.created.driver.url ?? openedSubscription.created.driver.resource,
      "deadletter.attempts": String(maxAttempts),
      "deadletter.deliveries": String(maxAttempts),
      "deadletter.error": "handler failed: poison",
    });
    expect(Math.abs(Date.now() - Date.parse(time ?? ""))).toBeLessThan(60_000);
    // Exactly one copy, and no attempt after the last.
    expect(await ctx.nothingWithin(deadLetterSub.subscription, 1000)).toBe(true);
    await subscription.shutdown();
    await processing;
    expect(attempts).toEqual([1, 2, 3]);
    expect(ids).toEqual(["order-17/poison", "order-17/poison", "order-17/poison"]);
  });

  it("keeps the event loop free while a message fails on every delivery", async () => {
    const { topic, subscription } = await ctx.pair("starvation");
    await topic.send({ body: "always fails" });
    let attempts = 0;
    const loop = watchEventLoop();
    const processing = subscription.process(() => {
      attempts++;
      throw new Error("always");
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 5000));
    } finally {
      loop.stop();
    }
    await subscription.shutdown();
    await processing;
    expect(loop.worstStallMs).toBeLessThan(50);
    // The default policy's delays double from 100 ms, with full jitter: about 7 deliveries in 5 s.
    expect(attempts).toBeGreaterThanOrEqual(ctx.caps.canNack ? 2 : 1);
    expect(attempts).toBeLessThanOrEqual(10);
  });

  // For every driver: one that cannot nack must still let good messages past failed ones (see releaseFailed).
  it("processes a good message within 2 s while 100 failing ones are queued ahead of it", async () => {
    const { topic, subscription } = await ctx.pair("past-poison");
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => topic.send({ body: `poison-${i}`, metadata: { poison: "yes" } })),
    );
    const sentAt = Date.now();
    await topic.send({ body: "good" });
    let handledAt: number | undefined;
    const processing = subscription.process((message: Message) => {
      if (message.metadata.poison === "yes") throw new Error("poison");
      handledAt = Date.now();
    });
    const deadline = Date.now() + 2000 + ctx.receiveTimeoutMs;
    while (handledAt === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await subscription.shutdown();
    await processing;
    expect(handledAt).toBeDefined();
    expect((handledAt ?? Number.POSITIVE_INFINITY) - sentAt).toBeLessThan(2000);
  });

  it("does not redeliver a message while a handler three times slower than the ack deadline runs", async ({ skip }) => {
    const ackDeadlineMs = ctx.caps.ackDeadlineMs;
    if (ackDeadlineMs === undefined) skip(`${ctx.caps.name} has no ack deadline`);
    const { topic, subscription } = await ctx.pair("slow-handler");
    await topic.send({ body: "slow" });
    let deliveries = 0;
    let done = false;
    const processing = subscription.process(
      async () => {
        deliveries++;
        await new Promise((resolve) => setTimeout(resolve, 3 * (ackDeadlineMs as number)));
        done = true;
      },
      { concurrency: 2 },
    );
    while (!done) await new Promise((r) => setTimeout(r, 50));
    // A redelivery would have arrived during the handler; give a late one the time of one more deadline.
    await new Promise((resolve) => setTimeout(resolve, ackDeadlineMs));
    await subscription.shutdown();
    await processing;
    expect(deliveries).toBe(1);
  });
}

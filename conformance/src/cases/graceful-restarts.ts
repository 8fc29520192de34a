import type { Subscription } from "@portable-pubsub/core/driver";
import { expect, it } from "vitest";
import { numbered, type SuiteContext, sortedBodies } from "../context.js";

const RESTARTS = 10;
/** Messages each service handles before it is stopped: receiving them grows the receive batches, so more are held. */
const HANDLED_PER_RUN = 2;
const MESSAGES = 30;

/**
 * Graceful restarts are not failures: a shutdown hands the messages a
 * subscription fetched but never handed out back to the broker, which may
 * count that as a delivery, and that must not use up `maxAttempts`.
 */
export function gracefulRestartCases(ctx: SuiteContext): void {
  it(`dead-letters nothing held through ${RESTARTS} graceful restarts with maxAttempts 3, and handles every message`, async ({
    skip,
  }) => {
    if (!ctx.caps.consumerGroups) skip(`${ctx.caps.name} cannot open a second consumer of one subscription`);
    const deadLetters = await ctx.openTopic("restart-dead-letters");
    const deadLetterSub = await ctx.openSubscription(deadLetters, "restart-dead-letters");
    const options = {
      redelivery: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 50 },
      deadLetter: deadLetters.topic,
    };
    const { topic, subscription, openedSubscription } = await ctx.pair("graceful-restarts", undefined, options);
    await Promise.all(Array.from({ length: MESSAGES }, (_, i) => topic.send({ body: `m-${i}` })));
    const handled = [];
    let current: Subscription = subscription;
    for (let restart = 1; restart <= RESTARTS; restart++) {
      // A service that handles a few messages, while its driver and buffer hold more, then is stopped (SIGTERM).
      handled.push(...(await ctx.receiveN(current, HANDLED_PER_RUN)));
      await new Promise((resolve) => setTimeout(resolve, 50));
      await current.shutdown();
      current = await ctx.openConsumer(openedSubscription, options);
    }
    handled.push(...(await ctx.receiveN(current, MESSAGES - RESTARTS * HANDLED_PER_RUN)));
    expect(sortedBodies(handled)).toEqual(numbered("m", MESSAGES));
    expect(await ctx.nothingWithin(deadLetterSub.subscription, 500)).toBe(true);
  });
}

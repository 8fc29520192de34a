import { randomUUID } from "node:crypto";
import { ErrorCode, type LogEvent, openSubscription, openTopic } from "@portable-pubsub/core";
import { openMemSubscription, openMemTopic } from "@portable-pubsub/driver-memory";
import { describe, expect, it } from "vitest";

function logs() {
  const events: LogEvent[] = [];
  const push = (event: LogEvent) => events.push(event);
  return { events, logger: { info: push, warn: push, error: push } };
}

describe("mem:// dead letters", () => {
  it("fails a dead letter that no subscription of its topic receives: the original stays and comes back, nothing is logged as sent", async () => {
    // The default broker: a deadLetter URL opens there (driver options such as broker are not passed on).
    const id = randomUUID().slice(0, 8);
    const orders = await openTopic(`mem://orders-${id}`);
    await openTopic(`mem://dead-${id}`).then((t) => t.shutdown());
    const { events, logger } = logs();
    const worker = await openSubscription(`mem://orders-${id}?subscription=worker`, {
      redelivery: { maxAttempts: 2, initialDelayMs: 1, maxDelayMs: 20 },
      deadLetter: `mem://dead-${id}`,
      logger,
    });
    await orders.send({ body: "poison", metadata: { k: "v" } });
    const attempts: (number | undefined)[] = [];
    const processing = worker.process((message) => {
      attempts.push(message.deliveryAttempt);
      throw new Error("invalid order");
    });
    // Two failed deliveries, then a dead-letter send that fails, and the original back past its last attempt.
    while (events.filter((e) => e.event === "pubsub.deadletter_failed").length < 2) {
      await new Promise((r) => setTimeout(r, 5));
    }
    // A subscription to the dead-letter topic now: the next dead-letter send of the same original succeeds.
    const dead = await openSubscription(`mem://dead-${id}`);
    const letter = await dead.receive({ signal: AbortSignal.timeout(5000) });
    letter.ack();
    await worker.shutdown();
    await processing;
    expect(attempts).toEqual([1, 2]);
    expect([letter.text(), letter.metadata.k, letter.metadata["deadletter.source"]]).toEqual([
      "poison",
      "v",
      `mem://orders-${id}?subscription=worker`,
    ]);
    const failed = events.filter((e) => e.event === "pubsub.deadletter_failed");
    expect(failed[0]?.message).toMatch(
      new RegExp(
        `could not be dead-lettered, it will be delivered again \\(.*mem topic "dead-${id}" has no subscription`,
      ),
    );
    // Logged as sent once, after the send that a subscription received; never for the failed ones.
    expect(events.filter((e) => e.event === "pubsub.deadletter")).toHaveLength(1);
    expect(await dead.receive({ signal: AbortSignal.timeout(100) }).catch((e) => e.code)).toBe(
      ErrorCode.DeadlineExceeded,
    );
    await Promise.all([orders.shutdown(), dead.shutdown()]);
  });

  it("opens the deadLetter URL of a subscription made with the driver's constructor, which no mux opened, through the default mux", async () => {
    const id = randomUUID().slice(0, 8);
    const orders = openMemTopic(`orders-${id}`);
    await openMemTopic(`dead-${id}`).shutdown();
    const dead = await openSubscription(`mem://dead-${id}`);
    const worker = openMemSubscription(`orders-${id}`, {
      subscription: "worker",
      redelivery: { maxAttempts: 1 },
      deadLetter: `mem://dead-${id}`,
    });
    await worker.ready();
    await orders.send({ body: "poison" });
    const processing = worker.process(() => {
      throw new Error("invalid order");
    });
    const letter = await dead.receive({ signal: AbortSignal.timeout(5000) });
    letter.ack();
    await worker.shutdown();
    await processing;
    expect([letter.text(), letter.metadata["deadletter.attempts"], letter.metadata["deadletter.error"]]).toEqual([
      "poison",
      "1",
      "invalid order",
    ]);
    await Promise.all([orders.shutdown(), dead.shutdown()]);
  });
});

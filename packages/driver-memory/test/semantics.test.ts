import { ErrorCode, openSubscription, openTopic, type PubSubError } from "@portable-pubsub/core";
import { MemBroker, MemSubscriptionDriver, openMemSubscription, openMemTopic } from "@portable-pubsub/driver-memory";
import { afterEach, describe, expect, it } from "vitest";

const failure = async (p: Promise<unknown>) => (await p.catch((e: unknown) => e)) as PubSubError;
const thrown = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return err as PubSubError;
  }
  throw new Error("did not throw");
};

describe("mem:// semantics", () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function pair(query = "subscription=s", options: Record<string, unknown> = {}) {
    const broker = new MemBroker();
    const topic = await openTopic("mem://t", { broker });
    const subscription = await openSubscription(`mem://t?${query}`, { broker, ...options });
    cleanups.push(
      () => topic.shutdown(),
      () => subscription.shutdown(),
    );
    return { broker, topic, subscription };
  }

  it("fails ready() with NotFound for a subscription that must exist and does not, before any receive", async () => {
    const broker = new MemBroker();
    openMemTopic("ready-check", { broker });
    const sub = openMemSubscription("ready-check", { broker, subscription: "nope", mustExist: true });
    const err = await failure(sub.ready());
    expect(err.code).toBe(ErrorCode.NotFound);
    expect(err.message).toContain('mem subscription "nope" of topic "ready-check" does not exist');
    await sub.shutdown();
    const existing = openMemSubscription("ready-check", { broker, subscription: "made" });
    const again = openMemSubscription("ready-check", { broker, subscription: "made", mustExist: true });
    await expect(again.ready()).resolves.toBeUndefined();
    await Promise.all([existing.shutdown(), again.shutdown()]);
  });

  it("delivers the body and metadata as they were at send, whatever the sender does with them afterwards", async () => {
    const { topic, subscription } = await pair();
    const body = Buffer.from("original");
    const metadata: Record<string, string> = { k: "before" };
    await topic.send({ body, metadata });
    body.write("CHANGED!");
    metadata.k = "after";
    metadata.added = "x";
    const received = await subscription.receive();
    expect(received.text()).toBe("original");
    expect(received.metadata).toEqual({ k: "before" });
    received.ack();
  });

  it("keeps a metadata key named __proto__ as a key", async () => {
    const { topic, subscription } = await pair();
    await topic.send({ body: "x", metadata: JSON.parse('{"__proto__":"v","a":"b"}') });
    const received = await subscription.receive();
    expect(Object.entries(received.metadata)).toEqual([
      ["__proto__", "v"],
      ["a", "b"],
    ]);
    received.ack();
  });

  it("refuses an ack deadline or wait beyond what a timer holds (2^31-1 ms) with InvalidArgument", async () => {
    const broker = new MemBroker();
    openMemTopic("t", { broker });
    const overUrl = await failure(openSubscription("mem://t?ackDeadline=600h", { broker }));
    expect(overUrl.code).toBe(ErrorCode.InvalidArgument);
    expect(overUrl.message).toMatch(
      /query parameter "ackDeadline" is invalid: must be a positive duration of at most 2147483647 ms/,
    );
    for (const [option, value] of [
      ["ackDeadlineMs", 2 ** 31],
      ["ackDeadlineMs", Number.NaN],
      ["ackDeadlineMs", -1],
      ["maxWaitMs", 2 ** 31],
      ["maxWaitMs", Number.POSITIVE_INFINITY],
    ] as const) {
      const error = thrown(() => openMemSubscription("t", { broker, [option]: value }));
      expect(error.code).toBe(ErrorCode.InvalidArgument);
      expect(error.message).toMatch(new RegExp(`^mem: option "${option}" is invalid: must be a positive duration`));
    }
    for (const [option, value] of [
      ["mustExist", "yes"],
      ["subscription", ""],
      ["broker", {}],
    ] as const) {
      expect(thrown(() => openMemSubscription("t", { broker, [option]: value } as never)).message).toMatch(
        new RegExp(`^mem: option "${option}" is invalid`),
      );
    }
    expect(thrown(() => openMemTopic("t", { create: "no" } as never)).message).toMatch(
      /^mem: option "create" is invalid/,
    );
  });

  it("takes the longest deadline a timer holds without a TimeoutOverflowWarning, and does not redeliver early", async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on("warning", onWarning);
    try {
      const { topic, subscription } = await pair("subscription=s&ackDeadline=2147483647");
      await topic.send({ body: "held" });
      const first = await subscription.receive();
      expect(first.text()).toBe("held");
      const again = await failure(subscription.receive({ signal: AbortSignal.timeout(200) }));
      expect(again.code).toBe(ErrorCode.DeadlineExceeded);
      first.ack();
    } finally {
      process.off("warning", onWarning);
    }
    expect(warnings.map((w) => w.name)).toEqual([]);
  });

  it("puts a nacked message back at the head of the subscription's queue, behind what was already fetched", async () => {
    // The driver: a nacked message is delivered before every message not yet taken.
    const broker = new MemBroker();
    openMemTopic("q", { broker });
    const driver = new MemSubscriptionDriver(broker, "q", "s", {
      create: { ackDeadlineMs: 30_000 },
      maxWaitMs: 100,
      anonymous: false,
    });
    driver.state();
    const topic = openMemTopic("q", { broker });
    cleanups.push(() => topic.shutdown());
    for (const body of ["a", "b", "c", "d"]) await topic.send({ body });
    const signal = AbortSignal.timeout(5000);
    const [a] = await driver.receiveBatch(1, signal);
    await driver.sendNacks([a?.ackId]);
    const next = await driver.receiveBatch(10, signal);
    expect(next.map((m) => [new TextDecoder().decode(m.body), m.deliveryAttempt])).toEqual([
      ["a", 2],
      ["b", 1],
      ["c", 1],
      ["d", 1],
    ]);

    // Through a Subscription, which fetches ahead: with receive batches of one, one message
    // (b) is already fetched when a is nacked (at once: delayMs 0), and comes first; a comes before c and d.
    const { topic: t2, subscription } = await pair("subscription=s", { maxReceiveBatchSize: 1 });
    for (const body of ["a", "b", "c", "d"]) await t2.send({ body });
    const order: string[] = [];
    const first = await subscription.receive();
    order.push(first.text());
    first.nack({ delayMs: 0 });
    // The nack reaches the driver with the next batch of settlements, and the broker takes it back in the next macrotask.
    await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < 4; i++) {
      const m = await subscription.receive();
      order.push(m.text());
      m.ack();
    }
    expect(order).toEqual(["a", "b", "a", "c", "d"]);
  });
});

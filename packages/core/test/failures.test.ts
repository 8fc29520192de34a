import { ErrorCode, type LogEvent, Subscription, Topic } from "@portable-pubsub/core";
import type { DriverMessage, Redelivery } from "@portable-pubsub/core/driver";
import { describe, expect, it } from "vitest";
import { FailureCounts } from "../src/settling/failure-counts.js";
import { ScriptedSubscriptionDriver, ScriptedTopicDriver } from "./fake-driver.js";

const bytes = (text: string) => new TextEncoder().encode(text);

/** A delivery of message `id`: its delivery count, and the failures its driver counted, if it counts them. */
const delivery = (id: string, deliveryAttempt: number | undefined, failedAttempts?: number): DriverMessage => ({
  body: bytes(id),
  metadata: {},
  loggableId: id,
  deliveryAttempt,
  ...(failedAttempts === undefined ? {} : { failedAttempts }),
});

/**
 * A driver that counts deliveries and not failures, as redis, nats and gcp do: `redeliver` brings the
 * message straight back with the same id, one delivery later.
 */
class DeliveryCountingDriver extends ScriptedSubscriptionDriver {
  readonly redelivered: Redelivery[] = [];
  async redeliver(items: Redelivery[]): Promise<void> {
    this.redelivered.push(...items);
    for (const { message } of items) {
      this.deliver(delivery(message.loggableId as string, (message.deliveryAttempt ?? 1) + 1));
    }
  }
}

/** A DeliveryCountingDriver with a 40 ms lease, whose extensions it records. */
class LeasingDriver extends DeliveryCountingDriver {
  readonly leaseMs = 40;
  extensions = 0;
  async extendLeases(): Promise<void> {
    this.extensions++;
  }
}

/** Waits for `condition`, failing the test after 5 s. */
const waitFor = async (condition: () => boolean) => {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 5));
  }
};

const fast = { initialDelayMs: 1, maxDelayMs: 1 };

describe("failures, not deliveries, use up maxAttempts", () => {
  it("runs the handler maxAttempts times for a message delivered often before, then dead-letters it with both counts", async () => {
    const driver = new DeliveryCountingDriver();
    const dlDriver = new ScriptedTopicDriver();
    const deadLetter = new Topic(dlDriver);
    // Delivered 7 times before, each handed back unhandled (graceful restarts): none of them failed.
    driver.deliver(delivery("order-1", 8));
    const sub = new Subscription(driver, { redelivery: { maxAttempts: 3, ...fast }, deadLetter });
    const attempts: (number | undefined)[] = [];
    const processing = sub.process((m) => {
      attempts.push(m.deliveryAttempt);
      throw new Error("no stock");
    });
    await waitFor(() => driver.acked.length === 1);
    await sub.shutdown();
    await processing;
    expect(attempts).toEqual([8, 9, 10]);
    expect(driver.redelivered.map((r) => r.message.deliveryAttempt)).toEqual([8, 9]);
    const [dead] = dlDriver.batches.flat();
    expect([dead?.metadata["deadletter.attempts"], dead?.metadata["deadletter.deliveries"]]).toEqual(["3", "10"]);
    expect(dead?.metadata["deadletter.error"]).toBe("no stock");
    await deadLetter.shutdown();
  });

  it("believes the driver's failedAttempts over its own count", async () => {
    const driver = new ScriptedSubscriptionDriver();
    const deadLetter = new Topic(new ScriptedTopicDriver());
    driver.deliver(delivery("a", 30, 0), delivery("b", 3, 2));
    const sub = new Subscription(driver, { redelivery: { maxAttempts: 3, maxDeliveries: 30, ...fast }, deadLetter });
    const handled: string[] = [];
    const processing = sub.process((m) => {
      handled.push(m.text());
      if (m.text() === "b") throw new Error("third failure");
    });
    await waitFor(() => driver.acked.length === 2);
    await sub.shutdown();
    await processing;
    // a: never failed, within maxDeliveries: handled. b: its third failure dead-letters it.
    expect(handled).toEqual(["a", "b"]);
    expect(driver.nacked).toEqual([]);
    await deadLetter.shutdown();
  });

  it("forgets a message's failures once it is acked", async () => {
    const driver = new DeliveryCountingDriver();
    const dlDriver = new ScriptedTopicDriver();
    const deadLetter = new Topic(dlDriver);
    driver.deliver(delivery("x", 1));
    const sub = new Subscription(driver, { redelivery: { maxAttempts: 3, ...fast }, deadLetter });
    let runs = 0;
    const processing = sub.process(() => {
      runs++;
      // Fails twice, succeeds, then (the same id, delivered again: a redrive) fails twice more.
      if (runs === 3) {
        driver.deliver(delivery("x", 1));
        return;
      }
      if (runs <= 5) throw new Error(`run ${runs}`);
    });
    await waitFor(() => runs === 6);
    await sub.shutdown();
    await processing;
    expect(dlDriver.batches.flat()).toEqual([]);
    expect(driver.redelivered).toHaveLength(4);
    await deadLetter.shutdown();
  });

  it("counts a lease left to lapse past maxExtensionMs as a failure", async () => {
    const driver = new LeasingDriver();
    const dlDriver = new ScriptedTopicDriver();
    const deadLetter = new Topic(dlDriver);
    driver.deliver(delivery("stuck", undefined));
    const sub = new Subscription(driver, { maxExtensionMs: 120, redelivery: { maxAttempts: 2, ...fast }, deadLetter });
    const first = await sub.receive();
    // Never settled: after 120 ms the lease is no longer extended, and the broker delivers the message again.
    await new Promise((r) => setTimeout(r, 300));
    const extensions = driver.extensions;
    driver.deliver(delivery("stuck", undefined));
    const second = await sub.receive();
    second.nack();
    await waitFor(() => driver.acked.length === 1);
    await sub.shutdown();
    expect(first.loggableId).toBe("stuck");
    expect([extensions >= 1, extensions <= 2]).toEqual([true, true]);
    expect(driver.redelivered).toEqual([]);
    expect(dlDriver.batches.flat().map((m) => m.metadata["deadletter.attempts"])).toEqual(["2"]);
    await deadLetter.shutdown();
  });

  it("does not count a hand-back at shutdown", async () => {
    const driver = new ScriptedSubscriptionDriver();
    driver.deliver(delivery("a", 1), delivery("b", 1));
    const sub = new Subscription(driver, {
      redelivery: { maxAttempts: 1 },
      deadLetter: new Topic(new ScriptedTopicDriver()),
    });
    (await sub.receive()).ack();
    await sub.shutdown();
    // b was fetched with a and never handed out: returned with sendNacks, not dead-lettered.
    expect(driver.nacked).toEqual([2]);
    expect(driver.acked).toEqual([1]);
  });
});

describe("maxDeliveries", () => {
  const bad = (options: object) => {
    try {
      new Subscription(new ScriptedSubscriptionDriver(), options as never);
    } catch (err) {
      return err as { code: string; message: string };
    }
    throw new Error("accepted");
  };

  it("is refused without deadLetter, below maxAttempts, or not a whole number of at least 1", () => {
    const noDeadLetter = bad({ redelivery: { maxDeliveries: 10 } });
    expect(noDeadLetter.code).toBe(ErrorCode.InvalidArgument);
    expect(noDeadLetter.message).toBe(
      "subscription: redelivery.maxDeliveries needs deadLetter (a topic URL or an open Topic): a message past its last attempt must go somewhere",
    );
    const below = bad({ redelivery: { maxAttempts: 5, maxDeliveries: 4 }, deadLetter: "mem://dl" });
    expect(below.code).toBe(ErrorCode.InvalidArgument);
    expect(below.message).toBe(
      "subscription: redelivery.maxDeliveries (4) must be at least redelivery.maxAttempts (5): every failure is a delivery, so a message would never fail maxAttempts times",
    );
    for (const value of [0, 1.5, Number.NaN, "3"]) {
      const error = bad({ redelivery: { maxDeliveries: value }, deadLetter: "mem://dl" });
      expect([error.code, error.message.includes('"redelivery.maxDeliveries"')]).toEqual([
        ErrorCode.InvalidArgument,
        true,
      ]);
    }
  });

  it("accepts unlimited, and a limit alone (crash loops only)", async () => {
    const deadLetter = new Topic(new ScriptedTopicDriver());
    for (const redelivery of [
      { maxDeliveries: Number.POSITIVE_INFINITY },
      { maxDeliveries: 5 },
      { maxAttempts: Number.POSITIVE_INFINITY, maxDeliveries: 5 },
      { maxAttempts: 5, maxDeliveries: 5 },
    ]) {
      await new Subscription(new ScriptedSubscriptionDriver(), { redelivery, deadLetter }).shutdown();
    }
    await deadLetter.shutdown();
  });

  it("defaults to maxAttempts + 20, and to unlimited without maxAttempts", async () => {
    const run = async (redelivery: object, ...deliveries: DriverMessage[]) => {
      const driver = new ScriptedSubscriptionDriver();
      const dlDriver = new ScriptedTopicDriver();
      const events: LogEvent[] = [];
      const logger = { info: () => {}, warn: (e: LogEvent) => events.push(e), error: (e: LogEvent) => events.push(e) };
      const deadLetter = new Topic(dlDriver);
      driver.deliver(...deliveries);
      const sub = new Subscription(driver, { redelivery, deadLetter, logger });
      const handled: string[] = [];
      const processing = sub.process((m) => {
        handled.push(m.text());
      });
      await waitFor(() => driver.acked.length === deliveries.length);
      await sub.shutdown();
      await processing;
      await deadLetter.shutdown();
      return { handled, dead: dlDriver.batches.flat().map((m) => new TextDecoder().decode(m.body)), events };
    };
    const limited = await run({ maxAttempts: 3 }, delivery("23rd", 23), delivery("24th", 24));
    expect([limited.handled, limited.dead]).toEqual([["23rd"], ["24th"]]);
    expect(limited.events.map((e) => e.message)).toEqual([
      'fake subscription "s": message 24th sent to the dead-letter topic after 0 failed attempts in 24 deliveries',
    ]);
    const unlimited = await run({}, delivery("1000th", 1000));
    expect([unlimited.handled, unlimited.dead]).toEqual([["1000th"], []]);
    const own = await run({ maxDeliveries: 4 }, delivery("4th", 4), delivery("5th", 5));
    expect([own.handled, own.dead]).toEqual([["4th"], ["5th"]]);
  });
});

describe("FailureCounts", () => {
  it("counts by loggableId, forgets on request, and prefers the driver's count", () => {
    const counts = new FailureCounts();
    expect(counts.add(delivery("a", 1))).toBe(1);
    expect(counts.add(delivery("a", 2))).toBe(2);
    expect(counts.add(delivery("b", 1))).toBe(1);
    expect([counts.of(delivery("a", 3)), counts.of(delivery("b", 1)), counts.of(delivery("c", 1))]).toEqual([2, 1, 0]);
    // A driver that counts is believed, and nothing is stored for it.
    expect(counts.of(delivery("a", 3, 7))).toBe(7);
    expect(counts.add(delivery("z", 5, 4))).toBe(5);
    expect(counts.size).toBe(2);
    counts.forget(delivery("a", 3));
    expect(counts.of(delivery("a", 4))).toBe(0);
    expect(counts.size).toBe(1);
  });

  it("keeps at most its limit, forgetting the message whose count changed least recently", () => {
    const counts = new FailureCounts(3);
    for (const id of ["a", "b", "c"]) counts.add(delivery(id, 1));
    counts.add(delivery("a", 2));
    counts.add(delivery("d", 1));
    expect(counts.size).toBe(3);
    expect(["a", "b", "c", "d"].map((id) => counts.of(delivery(id, 1)))).toEqual([2, 0, 1, 1]);
  });

  it("holds 10,000 messages by default", () => {
    const counts = new FailureCounts();
    for (let i = 0; i <= 10_000; i++) counts.add(delivery(`m${i}`, 1));
    expect(counts.size).toBe(10_000);
    expect([counts.of(delivery("m0", 1)), counts.of(delivery("m1", 1)), counts.of(delivery("m10000", 1))]).toEqual([
      0, 1, 1,
    ]);
  });
});

import { watchEventLoop } from "@portable-pubsub/conformance";
import { DEAD_LETTER_PREFIX, ErrorCode, type LogEvent, Subscription, Topic, URLMux } from "@portable-pubsub/core";
import type { DriverMessage, Redelivery } from "@portable-pubsub/core/driver";
import { describe, expect, it } from "vitest";
import { cutUtf8 } from "../src/settling/dead-letter.js";
import { redeliveryDelay } from "../src/settling/redelivery.js";
import { driverError, failure, ScriptedSubscriptionDriver, ScriptedTopicDriver } from "./fake-driver.js";

const bytes = (text: string) => new TextEncoder().encode(text);
/** A delivery as a driver returns it: its delivery count, and the failures the driver counted, if it counts. */
const message = (
  body: string,
  attempt: number,
  metadata: Record<string, string> = {},
  failedAttempts?: number,
): DriverMessage => ({
  body: bytes(body),
  metadata,
  deliveryAttempt: attempt,
  ...(failedAttempts === undefined ? {} : { failedAttempts }),
});

/** A scripted driver with a lease, recording each extension. */
class LeasingDriver extends ScriptedSubscriptionDriver {
  readonly leaseMs = 100;
  readonly extended: unknown[][] = [];
  async extendLeases(ids: unknown[]): Promise<void> {
    this.extended.push([...ids]);
  }
}

/** A scripted driver that delays natively, recording each call. */
class RedeliveringDriver extends ScriptedSubscriptionDriver {
  readonly redelivered: Redelivery[] = [];
  async redeliver(items: Redelivery[]): Promise<void> {
    this.redelivered.push(...items);
  }
}

const logs = () => {
  const events: LogEvent[] = [];
  const push = (e: LogEvent) => events.push(e);
  return { events, logger: { info: push, warn: push, error: push } };
};

describe("redelivery policy", () => {
  it("backs off exponentially by attempt, with full jitter, capped", () => {
    const policy = { initialDelayMs: 100, maxDelayMs: 1000, maxAttempts: Number.POSITIVE_INFINITY };
    for (let i = 0; i < 2000; i++) {
      expect(redeliveryDelay(1, policy)).toBeLessThanOrEqual(100);
      expect(redeliveryDelay(3, policy)).toBeLessThanOrEqual(400);
      expect(redeliveryDelay(30, policy)).toBeLessThanOrEqual(1000);
    }
    const mean = Array.from({ length: 4000 }, () => redeliveryDelay(3, policy)).reduce((a, b) => a + b) / 4000;
    expect(mean).toBeGreaterThan(170);
    expect(mean).toBeLessThan(230);
  });

  it("refuses maxAttempts without deadLetter, and bad values, naming the option", () => {
    const driver = new ScriptedSubscriptionDriver();
    const bad = (options: object) => {
      try {
        new Subscription(driver, options as never);
      } catch (err) {
        return err as { code: string; message: string };
      }
      throw new Error("accepted");
    };
    const noDeadLetter = bad({ redelivery: { maxAttempts: 3 } });
    expect(noDeadLetter.code).toBe(ErrorCode.InvalidArgument);
    expect(noDeadLetter.message).toContain("redelivery.maxAttempts needs deadLetter");
    expect(bad({ redelivery: { initialDelayMs: -1 } }).message).toContain('"redelivery.initialDelayMs"');
    expect(bad({ redelivery: { maxDelayMs: Number.NaN } }).message).toContain('"redelivery.maxDelayMs"');
    expect(bad({ redelivery: { maxAttempts: 0 }, deadLetter: "mem://dl" }).message).toContain("maxAttempts");
    expect(bad({ deadLetter: "" }).message).toContain('"deadLetter"');
    expect(bad({ deadLetter: { send: 1 } }).message).toContain("must be a topic URL");
    expect(bad({ maxExtensionMs: 0 }).message).toContain('"maxExtensionMs"');
  });

  it("refuses a bad nack delay and settles nothing", async () => {
    const driver = new ScriptedSubscriptionDriver();
    driver.push("a");
    const sub = new Subscription(driver);
    const m = await sub.receive();
    for (const options of [{ delayMs: -1 }, { delayMs: 2 ** 31 }, { delayMs: "5" }, { later: true }]) {
      let error: { code?: string; message?: string } = {};
      try {
        m.nack(options as never);
      } catch (err) {
        error = err as typeof error;
      }
      expect(error.code).toBe(ErrorCode.InvalidArgument);
      expect(error.message).toMatch(/^nack: option/);
    }
    m.ack();
    await sub.shutdown();
    expect(driver.acked).toEqual([1]);
    expect(driver.nacked).toEqual([]);
  });
});

describe("redelivery through the portable layer", () => {
  it("holds a failed message for its delay, then nacks it, where the driver cannot delay", async () => {
    const driver = new ScriptedSubscriptionDriver();
    driver.push("a", "b");
    const sub = new Subscription(driver);
    const a = await sub.receive();
    const b = await sub.receive();
    const started = Date.now();
    a.nack({ delayMs: 300 });
    b.nack({ delayMs: 0 });
    await new Promise((r) => setTimeout(r, 100));
    expect(driver.nacked).toEqual([2]);
    while (driver.nacked.length < 2) await new Promise((r) => setTimeout(r, 10));
    expect(Date.now() - started).toBeGreaterThanOrEqual(295);
    expect(driver.nacked).toEqual([2, 1]);
    await sub.shutdown();
  });

  it("hands held messages back at once at shutdown", async () => {
    const driver = new ScriptedSubscriptionDriver();
    driver.push("a");
    const sub = new Subscription(driver);
    (await sub.receive()).nack({ delayMs: 60_000 });
    const started = Date.now();
    await sub.shutdown();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(driver.nacked).toEqual([1]);
  });

  it("forgets held messages without nacking them when shutdown runs out of time", async () => {
    const driver = new ScriptedSubscriptionDriver();
    driver.push("held", "hangs");
    const sub = new Subscription(driver);
    let started = 0;
    void sub
      .process(
        (m) => {
          started++;
          if (m.text() === "held") m.nack({ delayMs: 300 });
          else return new Promise(() => {});
        },
        { concurrency: 2 },
      )
      .catch(() => {});
    while (started < 2) await new Promise((r) => setTimeout(r, 5));
    await sub.shutdown({ signal: AbortSignal.timeout(50) }).catch(() => {});
    await new Promise((r) => setTimeout(r, 500));
    expect(driver.nacked).toEqual([]);
    expect(driver.acked).toEqual([]);
  });

  it("passes the delay to a driver that redelivers natively: the policy's by attempt, or the application's", async () => {
    const driver = new RedeliveringDriver();
    driver.deliver(message("a", 1), message("b", 5), message("c", 1));
    const sub = new Subscription(driver, { redelivery: { initialDelayMs: 1000, maxDelayMs: 4000 } });
    const seen: string[] = [];
    const processing = sub.process((m) => {
      seen.push(m.text());
      if (m.text() === "c") m.nack({ delayMs: 0 });
      else throw new Error("cannot");
      if (seen.length === 3) void sub.shutdown();
    });
    await processing;
    await sub.shutdown();
    expect(driver.nacked).toEqual([]);
    expect(driver.redelivered.map((r) => r.ackId)).toEqual([1, 2, 3]);
    const [a, b, c] = driver.redelivered;
    expect(a?.delayMs).toBeLessThanOrEqual(1000);
    expect(b?.delayMs).toBeLessThanOrEqual(4000);
    expect(c?.delayMs).toBe(0);
    expect(b?.message.body).toEqual(bytes("b"));
  });

  it("nacks at once, and logs, when the driver's redelivery fails for good", async () => {
    const driver = new RedeliveringDriver();
    driver.redeliver = async () => {
      throw driverError("PRECONDITION_FAILED - inequivalent arg 'x-message-ttl'", ErrorCode.FailedPrecondition);
    };
    driver.push("a");
    const { events, logger } = logs();
    const sub = new Subscription(driver, { logger });
    (await sub.receive()).nack({ delayMs: 5000 });
    while (driver.nacked.length === 0) await new Promise((r) => setTimeout(r, 5));
    await sub.shutdown();
    expect(driver.nacked).toEqual([1]);
    const failed = events.find((e) => e.event === "pubsub.redeliver_failed");
    expect(failed?.message).toBe(
      "redeliver fake subscription \"s\": PRECONDITION_FAILED - inequivalent arg 'x-message-ttl'; 1 messages returned at once instead",
    );
  });

  it("keeps the event loop free while a message fails at once, over and over", async () => {
    const driver = new RedeliveringDriver();
    // A driver whose redelivery comes straight back: the worst case for starvation.
    driver.redeliver = async (items) => {
      for (const item of items)
        driver.deliver({ ...item.message, deliveryAttempt: (item.message.deliveryAttempt ?? 1) + 1 });
    };
    driver.deliver(message("poison", 1));
    const sub = new Subscription(driver, { ackBatching: { maxBatchSize: 1 } });
    let attempts = 0;
    const loop = watchEventLoop();
    const processing = sub.process((m) => {
      attempts++;
      m.nack({ delayMs: 0 });
    });
    await new Promise((r) => setTimeout(r, 1000));
    loop.stop();
    await sub.shutdown();
    await processing;
    expect(attempts).toBeGreaterThan(10);
    expect(loop.worstStallMs).toBeLessThan(50);
  });
});

describe("dead letters", () => {
  it("sends a message that failed its last attempt, with the dead-letter metadata, and acks it only after", async () => {
    const driver = new ScriptedSubscriptionDriver();
    const dlDriver = new ScriptedTopicDriver();
    let release: () => void = () => {};
    dlDriver.gate = new Promise((r) => {
      release = r;
    });
    const deadLetter = new Topic(dlDriver);
    driver.deliver(message("bad order", 5, { orderId: "17", "deadletter.attempts": "9" }, 2));
    const { events, logger } = logs();
    const sub = new Subscription(driver, { redelivery: { maxAttempts: 3 }, deadLetter, logger });
    const processing = sub.process(() => {
      throw new Error(`invalid order: ${"x".repeat(2000)}`);
    });
    while (dlDriver.inFlight === 0) await new Promise((r) => setTimeout(r, 5));
    expect(driver.acked).toEqual([]);
    release();
    while (driver.acked.length === 0) await new Promise((r) => setTimeout(r, 5));
    await sub.shutdown();
    await processing;
    expect(driver.acked).toEqual([1]);
    expect(driver.nacked).toEqual([]);
    const [sent] = dlDriver.batches.flat();
    expect(sent?.body).toEqual(bytes("bad order"));
    const { "deadletter.time": time, "deadletter.error": error, ...rest } = sent?.metadata ?? {};
    expect(rest).toEqual({
      orderId: "17",
      "deadletter.source": 'fake subscription "s"',
      "deadletter.attempts": "3",
      "deadletter.deliveries": "5",
    });
    expect(Date.now() - Date.parse(time as string)).toBeLessThan(5000);
    expect(error?.startsWith("invalid order: xxx")).toBe(true);
    expect(Buffer.byteLength(error as string)).toBe(512);
    const deadLetters = events.filter((e) => e.event.startsWith("pubsub.deadletter"));
    expect(deadLetters.map((e) => e.event)).toEqual(["pubsub.deadletter"]);
    expect(deadLetters[0]).toMatchObject({ attempts: 3, deliveries: 5, resource: 'fake subscription "s"' });
    expect(deadLetters[0]?.message).toBe(
      'fake subscription "s": message m1 sent to the dead-letter topic after 3 failed attempts in 5 deliveries',
    );
    expect(Object.keys(sent?.metadata ?? {}).filter((k) => k.startsWith(DEAD_LETTER_PREFIX))).toHaveLength(5);
    await deadLetter.shutdown();
  });

  it("keeps the original when the dead-letter send fails, and redelivers it", async () => {
    const driver = new ScriptedSubscriptionDriver();
    const dlDriver = new ScriptedTopicDriver();
    dlDriver.failures = [driverError("dead-letter topic is gone", ErrorCode.NotFound)];
    const deadLetter = new Topic(dlDriver);
    driver.deliver(message("bad", 2, {}, 1));
    const { events, logger } = logs();
    const sub = new Subscription(driver, {
      redelivery: { maxAttempts: 2, initialDelayMs: 1, maxDelayMs: 1 },
      deadLetter,
      logger,
    });
    const processing = sub.process(() => {
      throw new Error("no");
    });
    while (driver.nacked.length === 0) await new Promise((r) => setTimeout(r, 5));
    await sub.shutdown();
    await processing;
    expect(driver.acked).toEqual([]);
    expect(driver.nacked).toEqual([1]);
    const failed = events.find((e) => e.event === "pubsub.deadletter_failed");
    expect(failed?.message).toContain("dead-letter topic is gone");
    await deadLetter.shutdown();
  });

  it("dead-letters without its handler a message that arrives having failed maxAttempts times, or past maxDeliveries", async () => {
    const driver = new ScriptedSubscriptionDriver();
    const dlDriver = new ScriptedTopicDriver();
    const deadLetter = new Topic(dlDriver);
    driver.deliver(
      message("its dead-letter send failed", 4, {}, 3),
      message("crashed the process", 24),
      message("fine", 23, {}, 2),
    );
    const sub = new Subscription(driver, { redelivery: { maxAttempts: 3 }, deadLetter });
    const handled: string[] = [];
    const processing = sub.process((m) => {
      handled.push(m.text());
    });
    while (driver.acked.length < 3) await new Promise((r) => setTimeout(r, 5));
    await sub.shutdown();
    await processing;
    expect(handled).toEqual(["fine"]);
    expect(
      dlDriver.batches.flat().map((m) => {
        const { "deadletter.time": _, "deadletter.source": __, ...rest } = m.metadata;
        return rest;
      }),
    ).toEqual([
      {
        "deadletter.attempts": "3",
        "deadletter.deliveries": "4",
        "deadletter.error": "failed 3 times, and its dead-letter send had not succeeded",
      },
      {
        "deadletter.attempts": "0",
        "deadletter.deliveries": "24",
        "deadletter.error":
          "delivered 24 times without an ack or a failure, past redelivery.maxDeliveries (23): did the process die in its handler?",
      },
    ]);
    await deadLetter.shutdown();
  });

  it("opens a dead-letter URL through the mux that opened the subscription, and fails the open for a bad one", async () => {
    const mux = new URLMux();
    const dlDriver = new ScriptedTopicDriver();
    const driver = new ScriptedSubscriptionDriver();
    mux.registerTopic("fake", async () => new Topic(dlDriver));
    mux.registerSubscription("fake", async (_url, _driverOptions, portable) => new Subscription(driver, portable));
    const sub = await mux.openSubscription("fake://s", {
      deadLetter: "fake://dl",
      redelivery: { maxAttempts: 1 },
    });
    await failOneMessage(sub, driver);
    expect(dlDriver.batches.flat()).toHaveLength(1);
    expect(dlDriver.closed).toBe(1);
    const bad = await failure(mux.openSubscription("fake://s", { deadLetter: "nope://dl" }));
    expect(bad.code).toBe(ErrorCode.InvalidArgument);
    expect(bad.message).toContain('no driver for scheme "nope://"');
  });

  it("opens a dead-letter URL of the subscription's scheme with the subscription's driver options, and one of another scheme without", async () => {
    const mux = new URLMux();
    const opened: [string, Record<string, unknown>][] = [];
    const driver = new ScriptedSubscriptionDriver();
    for (const scheme of ["fake", "other"]) {
      mux.registerTopic(scheme, async (url, driverOptions) => {
        opened.push([url.href, driverOptions]);
        return new Topic(new ScriptedTopicDriver());
      });
    }
    mux.registerSubscription("fake", async (_url, _driverOptions, portable) => new Subscription(driver, portable));
    const serverUrl = "fake://alice:s3cret@broker-b:1234";
    const same = await mux.openSubscription("fake://s", { serverUrl, deadLetter: "fake://dl" } as never);
    const other = await mux.openSubscription("fake://s", { serverUrl, deadLetter: "other://dl" } as never);
    expect(opened).toEqual([
      ["fake://dl", { serverUrl }],
      ["other://dl", {}],
    ]);
    await same.shutdown();
    await other.shutdown();
  });

  it("writes the subscription's URL, credentials redacted, as deadletter.source, and opens its dead-letter URL as a dead-letter target", async () => {
    const mux = new URLMux();
    const dlDriver = new ScriptedTopicDriver();
    const driver = new ScriptedSubscriptionDriver();
    const topicOptions: unknown[] = [];
    mux.registerTopic("fake", async (_url, _driverOptions, portable) => {
      topicOptions.push(portable);
      return new Topic(dlDriver, portable);
    });
    mux.registerSubscription("fake", async (_url, _driverOptions, portable) => new Subscription(driver, portable));
    const sub = await mux.openSubscription("fake://alice:s3cret@broker:1234/orders?group=billing&token=t0ken", {
      deadLetter: "fake://dl",
      redelivery: { maxAttempts: 1 },
    });
    expect(topicOptions).toEqual([{ deadLetterTarget: true }]);
    await failOneMessage(sub, driver);
    const source = dlDriver.batches.flat()[0]?.metadata["deadletter.source"];
    expect(source).toBe("fake://***@broker:1234/orders?group=billing&token=***");
    expect(source).not.toContain("s3cret");
    expect(source).not.toContain("t0ken");
  });

  it("takes deadletter.source from the driver's url hook for a subscription made without the mux", async () => {
    const driver = Object.assign(new ScriptedSubscriptionDriver(), { url: "fake://orders-billing" });
    const dlDriver = new ScriptedTopicDriver();
    const deadLetter = new Topic(dlDriver);
    await failOneMessage(new Subscription(driver, { redelivery: { maxAttempts: 1 }, deadLetter }), driver);
    expect(dlDriver.batches.flat()[0]?.metadata["deadletter.source"]).toBe("fake://orders-billing");
    await deadLetter.shutdown();
  });

  it("cuts an error to whole characters", () => {
    expect(cutUtf8("ab", 512)).toBe("ab");
    const cut = cutUtf8("€".repeat(300), 512);
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(512);
    expect(cut.endsWith("€…")).toBe(true);
    expect(cutUtf8("a\uD800b", 10)).toBe("a\uFFFDb");
  });
});

/** Delivers one message, fails it in a handler until the driver got an ack (its dead letter was sent), then shuts down. */
async function failOneMessage(sub: Subscription, driver: ScriptedSubscriptionDriver): Promise<void> {
  driver.deliver(message("x", 1));
  const processing = sub.process(() => {
    throw new Error("no");
  });
  while (driver.acked.length === 0) await new Promise((r) => setTimeout(r, 5));
  await sub.shutdown();
  await processing;
}

describe("leases", () => {
  it("extends held messages' leases until they are settled", async () => {
    const driver = new LeasingDriver();
    driver.push("slow", "quick");
    const sub = new Subscription(driver);
    const slow = await sub.receive();
    (await sub.receive()).ack();
    await new Promise((r) => setTimeout(r, 280));
    slow.ack();
    const extensions = driver.extended.length;
    await new Promise((r) => setTimeout(r, 150));
    await sub.shutdown();
    expect(extensions).toBeGreaterThanOrEqual(4);
    expect(driver.extended.length).toBe(extensions);
    expect(driver.extended.every((ids) => ids.length === 1 && ids[0] === 1)).toBe(true);
  });

  it("stops extending after maxExtensionMs", async () => {
    const driver = new LeasingDriver();
    driver.push("stuck");
    const sub = new Subscription(driver, { maxExtensionMs: 120 });
    await sub.receive();
    await new Promise((r) => setTimeout(r, 400));
    await sub.shutdown();
    expect(driver.extended.length).toBeGreaterThanOrEqual(1);
    expect(driver.extended.length).toBeLessThanOrEqual(2);
  });
});

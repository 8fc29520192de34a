import { ErrorCode, errorCode, Subscription, Topic } from "@portable-pubsub/core";
import { describe, expect, it } from "vitest";
import { ScriptedSubscriptionDriver, ScriptedTopicDriver } from "./fake-driver.js";

function thrown(work: () => unknown): unknown {
  try {
    work();
  } catch (err) {
    return err;
  }
  throw new Error("expected a throw");
}

describe("portable options", () => {
  it.each([
    [{ batching: { maxBatchSize: Number.NaN } }, '"batching.maxBatchSize" is invalid'],
    [{ batching: { maxConcurrentBatches: Number.NaN } }, '"batching.maxConcurrentBatches" is invalid'],
    [{ batching: { lingerMs: -1 } }, '"batching.lingerMs" is invalid: must not be negative'],
    [{ batching: { maxBatchSze: 3 } }, '"maxBatchSze" is not supported'],
    [{ retry: { maxAttempts: 0 } }, '"retry.maxAttempts" is invalid'],
    [{ retry: { maxDelayMs: 2 ** 40 } }, '"retry.maxDelayMs" is invalid: must be at most 2147483647 ms'],
    [{ maxPendingSends: 1.5 }, '"maxPendingSends" is invalid: must be a whole number'],
    [{ shutdownTimeoutMs: 0 }, '"shutdownTimeoutMs" is invalid: must be at least 1'],
  ])("rejects topic options %j with InvalidArgument naming the option", (options, text) => {
    const err = thrown(() => new Topic(new ScriptedTopicDriver(), options as never));
    expect(errorCode(err)).toBe(ErrorCode.InvalidArgument);
    expect((err as Error).message).toContain(text);
  });

  it.each([
    [{ ackBatching: { maxBatchSize: Number.NaN } }, '"ackBatching.maxBatchSize" is invalid'],
    [{ maxReceiveBatchSize: 0 }, '"maxReceiveBatchSize" is invalid: must be at least 1'],
    [{ shutdownTimeoutMs: "5s" }, '"shutdownTimeoutMs" is invalid'],
  ])("rejects subscription options %j with InvalidArgument naming the option", (options, text) => {
    const err = thrown(() => new Subscription(new ScriptedSubscriptionDriver(), options as never));
    expect(errorCode(err)).toBe(ErrorCode.InvalidArgument);
    expect((err as Error).message).toContain(text);
  });

  it("leaves keys it does not know to the driver", async () => {
    const topic = new Topic(new ScriptedTopicDriver(), { routingKey: "x" } as never);
    await topic.shutdown();
  });

  it("rejects bad process options before any handler runs", async () => {
    const driver = new ScriptedSubscriptionDriver();
    const sub = new Subscription(driver);
    driver.push("a");
    for (const [options, text] of [
      [{ concurrency: 2 ** 32 }, '"concurrency" is invalid: must be at most 100000'],
      [{ concurrency: Number.NaN }, '"concurrency" is invalid'],
      [{ onHandlerError: "log" }, '"onHandlerError" is invalid'],
      [{ signal: {} }, "process: signal must be an AbortSignal"],
    ] as const) {
      const err = await sub.process(() => {}, options as never).catch((e: unknown) => e);
      expect(errorCode(err)).toBe(ErrorCode.InvalidArgument);
      expect((err as Error).message).toContain(text);
    }
    expect(errorCode(await sub.process("nope" as never).catch((e: unknown) => e))).toBe(ErrorCode.InvalidArgument);
    expect(driver.acked).toEqual([]);
    await sub.shutdown();
  });
});

describe("call signals", () => {
  it("refuses a signal that is not an AbortSignal and sends nothing", async () => {
    const driver = new ScriptedTopicDriver();
    const topic = new Topic(driver);
    const err = await topic.send({ body: "a" }, { signal: {} as never }).catch((e: unknown) => e);
    expect(errorCode(err)).toBe(ErrorCode.InvalidArgument);
    expect((err as Error).message).toBe(
      "send: signal must be an AbortSignal (from an AbortController), got an object (Object)",
    );
    const sub = new Subscription(new ScriptedSubscriptionDriver());
    expect(errorCode(await sub.receive({ signal: "x" as never }).catch((e: unknown) => e))).toBe(
      ErrorCode.InvalidArgument,
    );
    expect(errorCode(await topic.shutdown({ signal: 5 as never }).catch((e: unknown) => e))).toBe(
      ErrorCode.InvalidArgument,
    );
    await Promise.all([topic.shutdown(), sub.shutdown()]);
    expect(driver.batches).toEqual([]);
  });
});

describe("shutdownTimeoutMs", () => {
  it("bounds a shutdown without a signal: pending sends fail with DeadlineExceeded, the driver closes, shutdown resolves", async () => {
    const driver = new ScriptedTopicDriver();
    driver.gate = new Promise(() => {});
    const topic = new Topic(driver, { shutdownTimeoutMs: 50 });
    const sends = [topic.send({ body: "a" }), topic.send({ body: "b" })].map((p) => p.catch((e: unknown) => e));
    const started = Date.now();
    await topic.shutdown();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(driver.closed).toBe(1);
    expect(topic.health.state).toBe("closed");
    // "a" went to the driver and is held there; "b" waited behind it. Both must settle.
    const outcomes = await Promise.race([
      Promise.all(sends),
      new Promise((resolve) => setTimeout(() => resolve("pending"), 500)),
    ]);
    expect(outcomes).not.toBe("pending");
    for (const outcome of outcomes as unknown[]) expect(errorCode(outcome)).toBe(ErrorCode.DeadlineExceeded);
  });

  it("applies to await using, and a caller's signal still wins", async () => {
    const driver = new ScriptedTopicDriver();
    driver.gate = new Promise(() => {});
    {
      await using topic = new Topic(driver, { shutdownTimeoutMs: 30 });
      void topic.send({ body: "a" }).catch(() => {});
    }
    expect(driver.closed).toBe(1);

    const other = new ScriptedTopicDriver();
    other.gate = new Promise(() => {});
    const topic = new Topic(other, { shutdownTimeoutMs: 60_000 });
    void topic.send({ body: "a" }).catch(() => {});
    const err = await topic.shutdown({ signal: AbortSignal.timeout(30) }).catch((e: unknown) => e);
    expect(errorCode(err)).toBe(ErrorCode.DeadlineExceeded);
    expect(other.closed).toBe(1);
  });

  it("bounds a subscription's shutdown while a handler hangs", async () => {
    const driver = new ScriptedSubscriptionDriver();
    const sub = new Subscription(driver, { shutdownTimeoutMs: 50 });
    driver.push("a");
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const processing = sub.process(() => {
      started();
      return new Promise(() => {});
    });
    await running;
    await sub.shutdown();
    expect(sub.health.state).toBe("closed");
    expect(driver.acked).toEqual([]);
    void processing;
  });
});

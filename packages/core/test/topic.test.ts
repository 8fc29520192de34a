import { ErrorCode, errorCode, PubSubError, Topic } from "@portable-pubsub/core";
import { describe, expect, it } from "vitest";
import { driverError, ScriptedTopicDriver } from "./fake-driver.js";

const fastRetry = { initialDelayMs: 1, maxDelayMs: 5 };

describe("Topic", () => {
  it("retries retryable driver errors and then resolves the send", async () => {
    const driver = new ScriptedTopicDriver();
    driver.failures = [
      driverError("conn lost", ErrorCode.Unknown, true),
      driverError("conn lost", ErrorCode.Unknown, true),
    ];
    const topic = new Topic(driver, { retry: fastRetry });
    await topic.send({ body: "x" });
    expect(driver.batches.length).toBe(1);
    expect(driver.failures.length).toBe(0);
  });

  it("fails the send with the driver's code, naming the operation and resource, with the cause kept", async () => {
    const driver = new ScriptedTopicDriver();
    const cause = driverError("NOT_FOUND - no exchange 'x' in vhost '/'", ErrorCode.NotFound);
    driver.failures = [cause];
    const topic = new Topic(driver, { retry: fastRetry });
    const error = (await topic.send({ body: "x" }).catch((e: unknown) => e)) as PubSubError;
    expect(error).toBeInstanceOf(PubSubError);
    expect(error.code).toBe(ErrorCode.NotFound);
    expect(error.message).toBe(`send to fake topic "t": NOT_FOUND - no exchange 'x' in vhost '/'`);
    expect(error.cause).toBe(cause);
  });

  it("gives up after maxAttempts", async () => {
    const driver = new ScriptedTopicDriver();
    driver.failures = Array.from({ length: 5 }, () => driverError("busy", ErrorCode.ResourceExhausted, true));
    const topic = new Topic(driver, { retry: { ...fastRetry, maxAttempts: 3 } });
    expect(errorCode(await topic.send({ body: "x" }).catch((e: unknown) => e))).toBe(ErrorCode.ResourceExhausted);
    expect(driver.failures.length).toBe(2);
  });

  it("never passes a password from a driver error into its message", async () => {
    const driver = new ScriptedTopicDriver();
    driver.failures = [new Error("connect to amqp://admin:s3cret@host:5672 refused")];
    const topic = new Topic(driver, { retry: fastRetry });
    const error = (await topic.send({ body: "x" }).catch((e: unknown) => e)) as Error;
    expect(error.message).not.toContain("s3cret");
    expect(error.message).toContain("amqp://***@host:5672");
  });

  it("honours batching options, capped by the driver's limits", async () => {
    const driver = new ScriptedTopicDriver();
    Object.assign(driver, { batchLimits: { maxItems: 4 } });
    const topic = new Topic(driver, { batching: { maxBatchSize: 10, maxConcurrentBatches: 1 } });
    await Promise.all(Array.from({ length: 10 }, (_, i) => topic.send({ body: String(i) })));
    expect(driver.batches.map((b) => b.length)).toEqual([1, 4, 4, 1]);
    expect(driver.maxInFlight).toBe(1);
  });

  it("flushes pending sends at shutdown, then closes the driver once", async () => {
    const driver = new ScriptedTopicDriver();
    let release: () => void = () => {};
    driver.gate = new Promise((r) => {
      release = r;
    });
    const topic = new Topic(driver, { batching: { maxBatchSize: 1, maxConcurrentBatches: 1 } });
    const sends = [topic.send({ body: "a" }), topic.send({ body: "b" })];
    const shutdown = topic.shutdown();
    expect(errorCode(await topic.send({ body: "c" }).catch((e: unknown) => e))).toBe(ErrorCode.FailedPrecondition);
    release();
    await Promise.all([...sends, shutdown, topic.shutdown()]);
    expect(driver.batches.length).toBe(2);
    expect(driver.closed).toBe(1);
    expect(topic.health.state).toBe("closed");
  });

  it("fails what is still pending with Canceled when the shutdown deadline passes", async () => {
    const driver = new ScriptedTopicDriver();
    driver.gate = new Promise(() => {});
    const topic = new Topic(driver, { batching: { maxBatchSize: 1, maxConcurrentBatches: 1 } });
    const held = topic.send({ body: "held" }).catch((e: unknown) => e);
    const queued = topic.send({ body: "queued" }).catch((e: unknown) => e);
    const error = await topic.shutdown({ signal: AbortSignal.timeout(30) }).catch((e: unknown) => e);
    expect(errorCode(error)).toBe(ErrorCode.DeadlineExceeded);
    expect(errorCode(await queued)).toBe(ErrorCode.DeadlineExceeded);
    expect(driver.closed).toBe(1);
    void held;
  });

  it("reports the driver's health and its changes", async () => {
    const driver = new ScriptedTopicDriver();
    const topic = new Topic(driver);
    const seen: string[] = [];
    topic.onHealthChange((h) => seen.push(h.blocked ? `${h.state}+blocked` : h.state));
    const lost = new Error("socket closed");
    driver.health.set("reconnecting", lost);
    driver.health.setBlocked("memory alarm");
    driver.health.setBlocked(undefined);
    driver.health.set("ready");
    expect(seen).toEqual(["reconnecting", "reconnecting+blocked", "reconnecting", "ready"]);
    expect(topic.health.lastError).toBe(lost);
    await topic[Symbol.asyncDispose]();
    expect(seen.at(-1)).toBe("closed");
    expect(driver.closed).toBe(1);
  });

  it("lets the driver refuse one message before batching, so it fails alone", async () => {
    const driver = new ScriptedTopicDriver();
    Object.assign(driver, {
      checkMessage(m: { body: Uint8Array }) {
        if (m.body.byteLength > 3) throw new PubSubError(ErrorCode.InvalidArgument, "send: body over 3 bytes");
      },
    });
    const topic = new Topic(driver);
    const [big, small] = await Promise.allSettled([topic.send({ body: "large" }), topic.send({ body: "ok" })]);
    expect(big.status === "rejected" && errorCode(big.reason)).toBe(ErrorCode.InvalidArgument);
    expect(small.status).toBe("fulfilled");
    expect(driver.batches.map((b) => b.length)).toEqual([1]);
  });

  it("fails sends past maxPendingSends with ResourceExhausted instead of growing without bound", async () => {
    const driver = new ScriptedTopicDriver();
    let release: () => void = () => {};
    driver.gate = new Promise((r) => {
      release = r;
    });
    const topic = new Topic(driver, { maxPendingSends: 3, batching: { maxBatchSize: 1, maxConcurrentBatches: 1 } });
    const first = topic.send({ body: "in flight" });
    await new Promise((r) => setTimeout(r, 1));
    const queued = [1, 2, 3].map((i) => topic.send({ body: String(i) }));
    const refused = await topic.send({ body: "one too many" }).catch((e: unknown) => e);
    expect(errorCode(refused)).toBe(ErrorCode.ResourceExhausted);
    expect((refused as Error).message).toMatch(/3 sends are already waiting/);
    release();
    await Promise.all([first, ...queued]);
    expect(driver.batches.length).toBe(4);
    expect(() => new Topic(driver, { maxPendingSends: 0 })).toThrow(
      /option "maxPendingSends" is invalid: must be at least 1/,
    );
  });
});

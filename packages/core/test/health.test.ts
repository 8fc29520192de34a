import { ErrorCode, type Health, openSubscription, openTopic, Subscription, Topic } from "@portable-pubsub/core";
import { HealthTracker } from "@portable-pubsub/core/driver";
import { describe, expect, it } from "vitest";
import { driverError, ScriptedSubscriptionDriver, ScriptedTopicDriver } from "./fake-driver.js";

/** A scripted subscription driver that reports its connection, as broker drivers do. */
class ConnectedSubscriptionDriver extends ScriptedSubscriptionDriver {
  readonly health = new HealthTracker("ready");
}

/** Records every state `target` reports from now on. */
function watch(target: { onHealthChange(listener: (h: Health) => void): () => void }): string[] {
  const seen: string[] = [];
  target.onHealthChange((h) => seen.push(h.state));
  return seen;
}

/** A promise and the function that resolves it. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open: () => void = () => {};
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}

describe("draining", () => {
  it("a Topic is draining from the moment shutdown starts until its sends are flushed, then closed", async () => {
    const driver = new ScriptedTopicDriver();
    const held = gate();
    driver.gate = held.wait;
    const topic = new Topic(driver, { batching: { maxBatchSize: 1 } });
    const seen = watch(topic);
    const send = topic.send({ body: "held" });
    const shutdown = topic.shutdown();
    expect(topic.health.state).toBe("draining");
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(topic.health.state).toBe("draining");
    held.open();
    await Promise.all([send, shutdown]);
    expect(topic.health.state).toBe("closed");
    expect(seen).toEqual(["draining", "closed"]);
    expect(driver.batches.length).toBe(1);
  });

  it("a Subscription is draining while a handler holds a message, through await using as well", async () => {
    const driver = new ConnectedSubscriptionDriver();
    driver.push("held");
    const held = gate();
    const started = gate();
    const sub = new Subscription(driver);
    const seen = watch(sub);
    const processing = sub.process(async () => {
      started.open();
      await held.wait;
    });
    await started.wait;
    const disposed = sub[Symbol.asyncDispose]();
    expect(sub.health.state).toBe("draining");
    // The driver's own reconnect and ready during the drain do not make the subscription look ready again.
    const lost = new Error("socket closed");
    driver.health.set("reconnecting", lost);
    driver.health.set("ready");
    expect(sub.health.state).toBe("draining");
    expect(sub.health.lastError).toBe(lost);
    held.open();
    await Promise.all([disposed, processing]);
    expect(seen).toEqual(["draining", "draining", "closed"]);
    expect(sub.health.state).toBe("closed");
    expect(driver.acked).toEqual([1]);
  });

  it("a second shutdown reports nothing new", async () => {
    const topic = new Topic(new ScriptedTopicDriver());
    const seen = watch(topic);
    await Promise.all([topic.shutdown(), topic.shutdown(), topic[Symbol.asyncDispose]()]);
    await topic.shutdown();
    expect(seen).toEqual(["draining", "closed"]);
  });

  it("a shutdown refused for a bad signal leaves the state as it was", async () => {
    const topic = new Topic(new ScriptedTopicDriver());
    const seen = watch(topic);
    const refused = await topic.shutdown({ signal: "soon" as unknown as AbortSignal }).catch((e: unknown) => e);
    expect((refused as { code?: string }).code).toBe(ErrorCode.InvalidArgument);
    expect(topic.health.state).toBe("ready");
    expect(seen).toEqual([]);
    await topic.shutdown();
  });

  it("on mem://, Topic and Subscription go ready → draining → closed", async () => {
    const name = `health-${Math.random().toString(36).slice(2)}`;
    const topic = await openTopic(`mem://${name}`);
    const sub = await openSubscription(`mem://${name}`);
    const topicSeen = watch(topic);
    const subSeen = watch(sub);
    expect([topic.health.state, sub.health.state]).toEqual(["ready", "ready"]);
    await topic.send({ body: "one" });
    const held = gate();
    const started = gate();
    const processing = sub.process(async () => {
      started.open();
      await held.wait;
    });
    await started.wait;
    const subShutdown = sub.shutdown();
    const topicShutdown = topic.shutdown();
    expect([topic.health.state, sub.health.state]).toEqual(["draining", "draining"]);
    await topicShutdown;
    expect(sub.health.state).toBe("draining");
    held.open();
    await Promise.all([subShutdown, processing]);
    expect(topicSeen).toEqual(["draining", "closed"]);
    expect(subSeen).toEqual(["draining", "closed"]);
  });
});

describe("Health.toJSON", () => {
  it("writes the state, since, block and last error as its portable code and its message, without the password", async () => {
    const driver = new ScriptedTopicDriver();
    const topic = new Topic(driver);
    driver.health.set(
      "reconnecting",
      driverError("connect amqp://orders:s3cret-pw@broker.internal:5672/prod refused", ErrorCode.PermissionDenied),
    );
    driver.health.setBlocked("memory alarm");
    const health = topic.health;
    expect(JSON.parse(JSON.stringify(health))).toEqual({
      state: "reconnecting",
      since: health.since.toISOString(),
      blocked: "memory alarm",
      lastError: {
        code: ErrorCode.PermissionDenied,
        message: "connect amqp://***@broker.internal:5672/prod refused",
      },
    });
    expect(JSON.stringify(health)).not.toContain("s3cret");
    // The object stays what it was: its fields, and the Error itself.
    expect(health.state).toBe("reconnecting");
    expect(health.lastError?.message).toContain("s3cret-pw");
    await topic.shutdown();
    expect(JSON.parse(JSON.stringify(topic.health))).toEqual({
      state: "closed",
      since: topic.health.since.toISOString(),
      blocked: null,
      lastError: { code: ErrorCode.PermissionDenied, message: "connect amqp://***@broker.internal:5672/prod refused" },
    });
  });

  it("writes null for no error and no block, and the endpoint where the driver knows it", () => {
    const tracker = new HealthTracker("connecting");
    tracker.set("ready", undefined, "amqp://***@node-1:5672");
    const health = tracker.current();
    expect(JSON.stringify(health)).toBe(
      `{"state":"ready","since":"${health.since.toISOString()}","blocked":null,"endpoint":"amqp://***@node-1:5672","lastError":null}`,
    );
  });

  it("gives the code of a driver error through the tracker's classifier, Unknown without one", () => {
    const plain = new HealthTracker("connecting");
    plain.set("reconnecting", new Error("ECONNRESET"));
    expect(plain.current().toJSON().lastError).toEqual({ code: ErrorCode.Unknown, message: "ECONNRESET" });
    const classified = new HealthTracker("connecting", () => ErrorCode.DeadlineExceeded);
    classified.set("reconnecting", new Error("heartbeat timeout"));
    expect(classified.current().toJSON().lastError).toEqual({
      code: ErrorCode.DeadlineExceeded,
      message: "heartbeat timeout",
    });
  });
});

import { ErrorCode, errorCode, Subscription } from "@portable-pubsub/core";
import { describe, expect, it, vi } from "vitest";
import { ReceiveSizer } from "../src/receive-sizer.js";
import { driverError, ScriptedSubscriptionDriver } from "./fake-driver.js";

const fastRetry = { initialDelayMs: 1, maxDelayMs: 5 };

describe("Subscription", () => {
  it("retries retryable receive errors, and delivers afterwards", async () => {
    const driver = new ScriptedSubscriptionDriver();
    driver.receiveFailures = [driverError("reset", ErrorCode.Unknown, true)];
    driver.push("a");
    const sub = new Subscription(driver, { retry: fastRetry });
    expect((await sub.receive()).text()).toBe("a");
    await sub.shutdown();
  });

  it("fails receives for good on a non-retryable error, and process rejects with it", async () => {
    const driver = new ScriptedSubscriptionDriver();
    driver.receiveFailures = [driverError("NOGROUP", ErrorCode.NotFound)];
    const sub = new Subscription(driver, { retry: fastRetry });
    const first = await sub.receive().catch((e: unknown) => e);
    expect(errorCode(first)).toBe(ErrorCode.NotFound);
    expect((first as Error).message).toBe('receive from fake subscription "s": NOGROUP');
    expect(errorCode(await sub.process(() => {}).catch((e: unknown) => e))).toBe(ErrorCode.NotFound);
    await sub.shutdown();
  });

  it("acks in batches after process handlers resolve, nacks when they throw", async () => {
    const driver = new ScriptedSubscriptionDriver();
    driver.push("ok-1", "fail", "ok-2");
    const sub = new Subscription(driver);
    const errors: string[] = [];
    let handled = 0;
    const processing = sub.process(
      async (m) => {
        handled++;
        if (m.text() === "fail") throw new Error("handler broke");
        if (handled === 3) void sub.shutdown();
      },
      { onHandlerError: (err, m) => errors.push(`${(err as Error).message}:${m.loggableId}`) },
    );
    await processing;
    await sub.shutdown();
    expect(driver.acked.sort()).toEqual([1, 3]);
    expect(driver.nacked).toEqual([2]);
    expect(errors).toEqual(["handler broke:fail"]);
  });

  it("waits for running handlers at shutdown and sends their acks", async () => {
    const driver = new ScriptedSubscriptionDriver();
    driver.push("slow");
    const sub = new Subscription(driver);
    let started: () => void = () => {};
    const running = new Promise<void>((r) => {
      started = r;
    });
    const processing = sub.process(async () => {
      started();
      await new Promise((r) => setTimeout(r, 50));
    });
    await running;
    await sub.shutdown();
    await processing;
    expect(driver.acked).toEqual([1]);
  });

  it("reports an ack failure from shutdown", async () => {
    const driver = new ScriptedSubscriptionDriver();
    driver.ackFailures = [driverError("PRECONDITION_FAILED - unknown delivery tag", ErrorCode.FailedPrecondition)];
    driver.push("a");
    const sub = new Subscription(driver, { retry: fastRetry });
    (await sub.receive()).ack();
    const error = await sub.shutdown().catch((e: unknown) => e);
    expect(errorCode(error)).toBe(ErrorCode.FailedPrecondition);
  });

  it("nacks messages fetched but never handed out when it shuts down", async () => {
    const driver = new ScriptedSubscriptionDriver();
    driver.push("a", "b", "c");
    const sub = new Subscription(driver);
    (await sub.receive()).ack();
    await vi.waitFor(() => expect(driver.remaining).toBeLessThan(2));
    const fetched = 3 - driver.remaining;
    await sub.shutdown();
    expect(driver.acked).toEqual([1]);
    expect(driver.nacked.sort()).toEqual([2, 3].slice(0, fetched - 1));
  });

  it("gives back, before the driver closes, what a fetch caught by shutdown had already claimed", async () => {
    // As pg:// does: the abort arrives while a claim runs, which still returns its rows some ms later.
    const events: string[] = [];
    let fetches = 0;
    const driver = Object.assign(new ScriptedSubscriptionDriver(), {
      async receiveBatch(_max: number, signal: AbortSignal) {
        if (++fetches > 1) {
          await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
          await new Promise((resolve) => setTimeout(resolve, 50));
          events.push("claimed after the abort");
          return [{ body: new Uint8Array(1), metadata: {}, ackId: "late", loggableId: "late" }];
        }
        return [{ body: new Uint8Array(1), metadata: {}, ackId: "first", loggableId: "first" }];
      },
      async sendNacks(ids: unknown[]) {
        events.push(`nack ${ids.join(",")}`);
      },
      async close() {
        events.push("close");
      },
    });
    const sub = new Subscription(driver);
    (await sub.receive()).ack();
    const waiting = sub.receive().catch((e: unknown) => errorCode(e));
    await vi.waitFor(() => expect(fetches).toBe(2));
    await sub.shutdown();
    expect(await waiting).toBe(ErrorCode.FailedPrecondition);
    expect(events).toEqual(["claimed after the abort", "nack late", "close"]);
    expect(driver.acked).toEqual(["first"]);
  });

  it("reads the driver's id when msg.id is first read, once; a message without one has its broker id", async () => {
    let reads = 0;
    const withId = Object.defineProperty(
      { body: new Uint8Array(1), metadata: {}, ackId: "a", loggableId: "broker-1" },
      "id",
      {
        get: () => {
          reads++;
          return "order-42";
        },
      },
    );
    const withoutId = { body: new Uint8Array(1), metadata: {}, ackId: "b", loggableId: "broker-2" };
    let fetched = false;
    const driver = Object.assign(new ScriptedSubscriptionDriver(), {
      async receiveBatch() {
        if (fetched) return [];
        fetched = true;
        return [withId, withoutId];
      },
    });
    const sub = new Subscription(driver);
    const first = await sub.receive();
    const second = await sub.receive();
    expect(reads).toBe(0);
    expect([first.id, first.id, second.id]).toEqual(["order-42", "order-42", "broker-2"]);
    expect(reads).toBe(1);
    await sub.shutdown();
  });

  it("ignores acks after shutdown instead of throwing", async () => {
    const driver = new ScriptedSubscriptionDriver();
    driver.push("late");
    const sub = new Subscription(driver);
    const message = await sub.receive();
    await sub.shutdown();
    message.ack();
    expect(driver.acked).toEqual([]);
  });

  it("rejects a bad maxReceiveBatchSize with InvalidArgument", () => {
    expect(() => new Subscription(new ScriptedSubscriptionDriver(), { maxReceiveBatchSize: 0 })).toThrow(
      /option "maxReceiveBatchSize" is invalid: must be at least 1/,
    );
  });

  it("grows receive batches for a fast consumer, up to the maximum", async () => {
    const driver = new ScriptedSubscriptionDriver();
    const sub = new Subscription(driver, { maxReceiveBatchSize: 64 });
    const total = 3000;
    for (let i = 0; i < total; i++) driver.push(`m${i}`);
    for (let i = 0; i < total; i++) (await sub.receive()).ack();
    await sub.shutdown();
    expect(driver.requested[0]).toBe(1);
    expect(Math.max(...driver.requested)).toBe(64);
  });
});

describe("Subscription over a driver that cannot nack", () => {
  it("throws Unimplemented from nack, and leaves a failed message to the ack deadline", async () => {
    const driver = new ScriptedSubscriptionDriver();
    Object.assign(driver, { canNack: false });
    driver.push("a", "b");
    const sub = new Subscription(driver);
    const first = await sub.receive();
    expect(first.nackable).toBe(false);
    expect(() => first.nack()).toThrow(expect.objectContaining({ code: ErrorCode.Unimplemented }));
    first.ack();
    const processing = sub.process(() => {
      void sub.shutdown();
      throw new Error("handler failed");
    });
    await processing;
    await sub.shutdown();
    expect(driver.acked).toEqual([1]);
    expect(driver.nacked).toEqual([]);
  });
});

describe("ReceiveSizer", () => {
  it("stays at 1 for a consumer that takes one message at a time, slowly", () => {
    const sizer = new ReceiveSizer(1000);
    const start = performance.now();
    expect(sizer.nextBatchSize()).toBe(1);
    while (performance.now() - start < 15) {
      // busy wait: one window passes with a single delivery
    }
    sizer.delivered(1);
    expect(sizer.nextBatchSize()).toBeLessThanOrEqual(100);
  });
});

describe("driver notices", () => {
  it("reach the logger with the resource, credentials removed, and stop at shutdown", async () => {
    const { Notices } = await import("@portable-pubsub/core/driver");
    const driver = new ScriptedSubscriptionDriver();
    const notices = new Notices();
    Object.assign(driver, { notices });
    const events: Record<string, unknown>[] = [];
    const push = (e: Record<string, unknown>) => events.push(e);
    const sub = new Subscription(driver, { logger: { info: push, warn: push, error: push } });
    notices.emit({
      level: "warn",
      event: "pubsub.stale_acks_dropped",
      message: "2 acks dropped (amqp://guest:secret@host)",
      fields: { count: 2 },
    });
    await sub.shutdown();
    notices.emit({ level: "warn", event: "pubsub.late", message: "after shutdown" });
    const forwarded = events.filter((e) => e.event !== "pubsub.state");
    expect(forwarded).toEqual([
      {
        event: "pubsub.stale_acks_dropped",
        resource: 'fake subscription "s"',
        message: 'fake subscription "s": 2 acks dropped (amqp://***@host)',
        count: 2,
      },
    ]);
    expect(notices.listened).toBe(false);
  });
});

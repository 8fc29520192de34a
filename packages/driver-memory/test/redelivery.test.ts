import { execFile } from "node:child_process";
import type { DriverMessage } from "@portable-pubsub/core/driver";
import { MemBroker, MemSubscriptionDriver, MemTopicDriver } from "@portable-pubsub/driver-memory";
import { afterEach, describe, expect, it } from "vitest";

const text = (m: DriverMessage | undefined) => new TextDecoder().decode(m?.body);

describe("mem:// redelivery and leases (driver)", () => {
  const intervals: NodeJS.Timeout[] = [];
  afterEach(() => {
    for (const i of intervals.splice(0)) clearInterval(i);
  });

  /** A broker with topic "t" and named subscription "s" (ack deadline `ackDeadlineMs`), read by one driver. */
  function setup(ackDeadlineMs = 30_000) {
    const broker = new MemBroker();
    broker.createTopic("t");
    const driver = new MemSubscriptionDriver(broker, "t", "s", {
      create: { ackDeadlineMs },
      maxWaitMs: 100,
      anonymous: false,
    });
    const state = driver.state();
    const topic = new MemTopicDriver(broker, "t");
    const send = (...bodies: string[]) =>
      topic.sendBatch(bodies.map((b) => ({ body: new TextEncoder().encode(b), metadata: {} })));
    return { broker, driver, state, send };
  }

  const receive = (driver: MemSubscriptionDriver, max = 10) => driver.receiveBatch(max, AbortSignal.timeout(5000));

  /** Receives until a batch is not empty; resolves with it and when it came. */
  async function next(driver: MemSubscriptionDriver): Promise<{ got: DriverMessage[]; at: number }> {
    for (;;) {
      const got = await receive(driver);
      if (got.length > 0) return { got, at: Date.now() };
    }
  }

  it("holds a redelivered message for its delay, not a millisecond less, while other messages flow", async () => {
    const { driver, state, send } = setup();
    expect(driver.leaseMs).toBe(30_000);
    await send("poison");
    const [first] = await receive(driver);
    const start = Date.now();
    await driver.redeliver([{ ackId: first?.ackId, delayMs: 300, message: first as DriverMessage }]);
    expect([state.outstanding, state.delayed, state.available]).toEqual([0, 1, 0]);
    await send("good");
    const good = await receive(driver);
    expect(good.map(text)).toEqual(["good"]);
    expect(Date.now() - start).toBeLessThan(300);
    await driver.sendAcks([good[0]?.ackId]);
    const { got, at } = await next(driver);
    expect(got.map((m) => [text(m), m.deliveryAttempt])).toEqual([["poison", 2]]);
    expect(at - start).toBeGreaterThanOrEqual(300);
    expect(at - start).toBeLessThan(1000);
  });

  it("counts failures apart from deliveries: a redelivery and a lapsed ack deadline fail, a nack does not", async () => {
    const { driver, send } = setup(100);
    await send("m");
    const counts = (m: DriverMessage | undefined) => [m?.deliveryAttempt, m?.failedAttempts];
    const [first] = await receive(driver);
    expect(counts(first)).toEqual([1, 0]);
    // Handed back unhandled (a shutdown): a delivery, not a failure.
    await driver.sendNacks([first?.ackId]);
    const [second] = await receive(driver);
    expect(counts(second)).toEqual([2, 0]);
    await driver.redeliver([{ ackId: second?.ackId, delayMs: 0, message: second as DriverMessage }]);
    const {
      got: [third],
    } = await next(driver);
    expect(counts(third)).toEqual([3, 1]);
    // Left past its ack deadline: a failure.
    const {
      got: [fourth],
    } = await next(driver);
    expect(counts(fourth)).toEqual([4, 2]);
    await driver.sendAcks([fourth?.ackId]);
  });

  it("redelivers in order of due time, and counts attempts 1, 2, 3", async () => {
    const { driver, send } = setup();
    await send("a", "b");
    const [a, b] = await receive(driver);
    expect([a?.deliveryAttempt, b?.deliveryAttempt]).toEqual([1, 1]);
    await driver.redeliver([
      { ackId: a?.ackId, delayMs: 200, message: a as DriverMessage },
      { ackId: b?.ackId, delayMs: 50, message: b as DriverMessage },
    ]);
    const first = (await next(driver)).got;
    expect(first.map((m) => [text(m), m.deliveryAttempt])).toEqual([["b", 2]]);
    await driver.sendAcks([first[0]?.ackId]);
    const second = (await next(driver)).got;
    expect(second.map((m) => [text(m), m.deliveryAttempt])).toEqual([["a", 2]]);
    await driver.redeliver([{ ackId: second[0]?.ackId, delayMs: 0, message: second[0] as DriverMessage }]);
    const third = (await next(driver)).got;
    expect(third.map((m) => [text(m), m.deliveryAttempt])).toEqual([["a", 3]]);
    await driver.sendAcks([third[0]?.ackId]);
  });

  it("never makes a message with delay 0 deliverable synchronously or in a microtask, only by a timer", async () => {
    const { driver, state, send } = setup();
    await send("x");
    const [x] = await receive(driver);
    await driver.redeliver([{ ackId: x?.ackId, delayMs: 0, message: x as DriverMessage }]);
    expect(state.available).toBe(0);
    for (let i = 0; i < 100; i++) await Promise.resolve();
    expect(state.available).toBe(0);
    await new Promise((r) => setTimeout(r, 5));
    expect(state.available).toBe(1);
    // A stale ackId (already handed back) is ignored.
    await driver.redeliver([{ ackId: x?.ackId, delayMs: 0, message: x as DriverMessage }]);
    await new Promise((r) => setTimeout(r, 5));
    expect([state.available, state.delayed]).toEqual([1, 0]);
  });

  it("extends a delivered message's ack deadline: extended, it is not redelivered; left alone, it is", async () => {
    const { driver, state, send } = setup(300);
    expect(driver.leaseMs).toBe(300);
    await send("kept", "dropped");
    const got = await receive(driver);
    expect(got.map(text)).toEqual(["kept", "dropped"]);
    const kept = got[0] as DriverMessage;
    // As core does: every half lease, for 1.2 s (four leases).
    const extending = setInterval(() => void driver.extendLeases([kept.ackId]), 150);
    intervals.push(extending);
    const redelivered: DriverMessage[] = [];
    const until = Date.now() + 1200;
    while (Date.now() < until) {
      for (const m of await driver.receiveBatch(10, AbortSignal.timeout(100))) {
        redelivered.push(m);
        await driver.sendAcks([m.ackId]);
      }
    }
    clearInterval(extending);
    // Only the message left alone came back (and was acked then).
    expect(redelivered.map((m) => [text(m), m.deliveryAttempt])).toEqual([["dropped", 2]]);
    expect(state.outstanding).toBe(1);
    // No longer extended: it expires within a lease.
    const { got: back, at } = await next(driver);
    expect(back.map((m) => [text(m), m.deliveryAttempt])).toEqual([["kept", 2]]);
    expect(at - until).toBeLessThan(600);
    // An ackId that is no longer valid is ignored.
    await driver.extendLeases([kept.ackId, 12345]);
    expect(state.outstanding).toBe(1);
    await driver.sendAcks([back[0]?.ackId]);
    expect(state.outstanding).toBe(0);
  });

  it("keeps a 10 ms interval firing while one message is redelivered with delay 0 over and over for 1 s", async () => {
    const { driver, send } = setup();
    await send("poison");
    let last = Date.now();
    let maxGap = 0;
    let ticks = 0;
    intervals.push(
      setInterval(() => {
        const now = Date.now();
        maxGap = Math.max(maxGap, now - last);
        last = now;
        ticks++;
      }, 10),
    );
    let deliveries = 0;
    let attempt = 0;
    const until = Date.now() + 1000;
    const signal = AbortSignal.timeout(5000);
    while (Date.now() < until) {
      for (const m of await driver.receiveBatch(1, signal)) {
        deliveries++;
        attempt = m.deliveryAttempt as number;
        await driver.redeliver([{ ackId: m.ackId, delayMs: 0, message: m }]);
      }
    }
    expect(maxGap).toBeLessThan(50);
    expect(ticks).toBeGreaterThanOrEqual(15);
    // It did go round, about once a millisecond: every redelivery a delivery with the next attempt number.
    expect(deliveries).toBeGreaterThan(200);
    expect(attempt).toBe(deliveries);
  });

  it("drops delayed messages and their timer when the subscription is deleted", async () => {
    const { broker, driver, state, send } = setup();
    await send("x");
    const [x] = await receive(driver);
    await driver.redeliver([{ ackId: x?.ackId, delayMs: 60_000, message: x as DriverMessage }]);
    expect(state.delayed).toBe(1);
    broker.deleteSubscription("t", "s");
    expect([state.deleted, state.delayed]).toEqual([true, 0]);
  });

  it("does not keep a process alive with a message waiting out a long delay", async () => {
    // A child process that leaves a message delayed by 60 s, without even shutting down: it must exit at once.
    const script = `
      import { MemBroker, MemSubscriptionDriver } from "@portable-pubsub/driver-memory";
      const broker = new MemBroker();
      broker.createTopic("t");
      const driver = new MemSubscriptionDriver(broker, "t", "s", { create: { ackDeadlineMs: 600000 }, maxWaitMs: 100, anonymous: false });
      driver.state();
      broker.publish("t", [{ body: new Uint8Array([1]), metadata: {} }]);
      const [m] = await driver.receiveBatch(1, AbortSignal.timeout(1000));
      await driver.redeliver([{ ackId: m.ackId, delayMs: 60000, message: m }]);
      await driver.extendLeases([m.ackId]);
      console.log("delayed", driver.state().delayed);
    `;
    const started = Date.now();
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ["--input-type=module", "-e", script],
        { cwd: import.meta.dirname, timeout: 20_000 },
        (err, out) => (err ? reject(err) : resolve(out)),
      ),
    );
    expect(stdout.trim()).toBe("delayed 1");
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

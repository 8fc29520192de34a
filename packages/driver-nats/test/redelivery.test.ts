import { jetstream } from "@nats-io/jetstream";
import type { DriverMessage } from "@portable-pubsub/core/driver";
import { NatsLink, NatsSubscriptionDriver } from "@portable-pubsub/driver-nats";
import { beforeAll, describe, expect, it } from "vitest";
import { consumerFixtures, requireNats, skipNats } from "./helpers.js";

const text = (m: DriverMessage | undefined) => new TextDecoder().decode(m?.body);

describe.skipIf(skipNats)("nats redelivery (nak delay), delivery attempts and leases (working)", () => {
  beforeAll(requireNats);
  const fixtures = consumerFixtures("redeliver");

  /** A stream with consumer "c" (ack wait `ackWaitMs`), a driver reading it, and a way to publish to it. */
  async function setup(ackWaitMs: number) {
    const { adminNc, nc, stream } = await fixtures.setup(ackWaitMs);
    const driver = new NatsSubscriptionDriver(NatsLink.of(nc), stream, "c", { prefetch: 10 });
    fixtures.defer(() => driver.close(AbortSignal.timeout(5000)));
    await driver.ready(AbortSignal.timeout(5000));
    const js = jetstream(adminNc);
    const send = async (...bodies: string[]) => {
      for (const b of bodies) await js.publish(stream, b);
    };
    return { driver, send };
  }

  /** Receives until a batch is not empty (at most `ms`); resolves with it and when it came. */
  async function next(driver: NatsSubscriptionDriver, ms = 10_000): Promise<{ got: DriverMessage[]; at: number }> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      const got = await driver.receiveBatch(10, AbortSignal.timeout(ms));
      if (got.length > 0) return { got, at: Date.now() };
    }
    throw new Error(`nothing received within ${ms} ms`);
  }

  /** Everything received during `ms`. */
  async function during(driver: NatsSubscriptionDriver, ms: number): Promise<DriverMessage[]> {
    const out: DriverMessage[] = [];
    const until = Date.now() + ms;
    while (Date.now() < until) out.push(...(await driver.receiveBatch(10, AbortSignal.timeout(until - Date.now()))));
    return out;
  }

  it("redelivers after the nak delay, kept by the server, while later messages flow past", async () => {
    const { driver, send } = await setup(30_000);
    expect(driver.leaseMs).toBe(30_000);
    await send("poison");
    const { got: first } = await next(driver);
    expect(first.map((m) => [text(m), m.deliveryAttempt])).toEqual([["poison", 1]]);
    const nakedAt = Date.now();
    await driver.redeliver(
      [{ ackId: first[0]?.ackId, delayMs: 1500, message: first[0] as DriverMessage }],
      AbortSignal.timeout(5000),
    );
    await send("good");
    const { got: good } = await next(driver);
    expect(good.map(text)).toEqual(["good"]);
    expect(Date.now() - nakedAt).toBeLessThan(1350);
    await driver.sendAcks([good[0]?.ackId], AbortSignal.timeout(5000));
    const { got: again, at } = await next(driver);
    expect(again.map((m) => [text(m), m.deliveryAttempt])).toEqual([["poison", 2]]);
    // No earlier than the delay less 10 %, and not much later either.
    expect(at - nakedAt).toBeGreaterThanOrEqual(1350);
    expect(at - nakedAt).toBeLessThan(4000);
    await driver.sendAcks([again[0]?.ackId], AbortSignal.timeout(5000));
    expect(await during(driver, 1200)).toEqual([]);
  });

  it("counts attempts 1, 2, 3 with JetStream's delivery count, through a delay of 0 (plain nak) and sendNacks", async () => {
    const { driver, send } = await setup(30_000);
    await send("again");
    const attempts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const { got } = await next(driver, 5000);
      expect(got.map(text)).toEqual(["again"]);
      const m = got[0] as DriverMessage;
      attempts.push(m.deliveryAttempt as number);
      const signal = AbortSignal.timeout(5000);
      if (i === 0) await driver.redeliver([{ ackId: m.ackId, delayMs: 0, message: m }], signal);
      else if (i === 1) await driver.sendNacks([m.ackId], signal);
      else await driver.sendAcks([m.ackId], signal);
    }
    expect(attempts).toEqual([1, 2, 3]);
  });

  it("keeps a message held 3 s past a 1 s ack wait from redelivery with working(); one not extended comes back", async () => {
    const { driver, send } = await setup(1000);
    expect(driver.leaseMs).toBe(1000);
    await send("held", "not-extended");
    const got: DriverMessage[] = [];
    while (got.length < 2) got.push(...(await next(driver, 5000)).got);
    expect(got.map((m) => [text(m), m.deliveryAttempt])).toEqual([
      ["held", 1],
      ["not-extended", 1],
    ]);
    const held = got[0] as DriverMessage;
    // As core does it: every half lease, while the handler holds the message.
    const extending = setInterval(() => void driver.extendLeases([held.ackId], AbortSignal.timeout(1000)), 500);
    const redelivered: DriverMessage[] = [];
    try {
      const until = Date.now() + 3000;
      while (Date.now() < until) {
        for (const m of await driver.receiveBatch(10, AbortSignal.timeout(until - Date.now()))) {
          redelivered.push(m);
          await driver.sendAcks([m.ackId], AbortSignal.timeout(5000));
        }
      }
    } finally {
      clearInterval(extending);
    }
    // Only the message whose lease was not extended came back, once (acked then).
    expect(redelivered.map((m) => [text(m), m.deliveryAttempt])).toEqual([["not-extended", 2]]);
    await driver.sendAcks([held.ackId], AbortSignal.timeout(5000));
    // Acked: nothing comes back, not even past another ack wait.
    expect(await during(driver, 1500)).toEqual([]);
    // An ackId no longer valid (acked) is ignored.
    await driver.extendLeases([held.ackId], AbortSignal.timeout(1000));
  });
});

import { v1 } from "@google-cloud/pubsub";
import type { DriverMessage } from "@portable-pubsub/core/driver";
import { GcpSubscriptionDriver, type ReceivedMessage } from "@portable-pubsub/driver-gcp";
import { describe, expect, it, vi } from "vitest";
import { emulatorForTests } from "./emulator.js";
import { emulatorClients, uniqueName } from "./harness.js";

const emulator = await emulatorForTests();
const text = (m: DriverMessage) => new TextDecoder().decode(m.body);

describe.skipIf(!emulator)("gcppubsub redelivery, leases and delivery attempts against the emulator", () => {
  const clients = emulatorClients(emulator?.address);
  const { cleanups } = clients;

  /** A topic with `bodies` published, a subscription with this ack deadline, and a driver on it. */
  async function setUp(ackDeadlineSeconds: number, bodies: string[], subscriptionOptions: object = {}) {
    const [topic] = await clients.admin.createTopic(uniqueName("redelivery"));
    const [subscription] = await topic.createSubscription(uniqueName("redelivery"), {
      ackDeadlineSeconds,
      ...subscriptionOptions,
    });
    cleanups.push(
      () => topic.delete(),
      () => subscription.delete(),
    );
    const driver = consumer(subscription.name);
    for (const body of bodies) await topic.publishMessage({ data: Buffer.from(body) });
    return { driver, subscriptionName: subscription.name, topic };
  }

  function consumer(subscriptionName: string): GcpSubscriptionDriver {
    const driver = new GcpSubscriptionDriver(clients.client, subscriptionName);
    cleanups.push(() => driver.close(AbortSignal.timeout(5000)));
    return driver;
  }

  /** Receives until `count` messages arrived, keyed by body; each with the ms since `since` it arrived at. */
  async function receive(driver: GcpSubscriptionDriver, count: number, since = Date.now(), timeoutMs = 10_000) {
    const got = new Map<string, { message: DriverMessage; afterMs: number }>();
    const signal = AbortSignal.timeout(timeoutMs);
    while (got.size < count && !signal.aborted) {
      for (const message of await driver.receiveBatch(10, signal)) {
        got.set(text(message), { message, afterMs: Date.now() - since });
      }
    }
    return got;
  }

  it("redelivers after the delay in whole seconds, one ModifyAckDeadline per deadline, at most 600 s", async () => {
    const { driver } = await setUp(30, ["a", "b", "c", "d", "e"]);
    const first = await receive(driver, 5);
    const ackId = (body: string) => first.get(body)?.message.ackId as string;
    const delays: [string, number][] = [
      ["a", 0],
      ["b", 0],
      ["c", 1500],
      ["d", 2000],
      ["e", 700_000],
    ];
    const modify = vi.spyOn(v1.SubscriberClient.prototype, "modifyAckDeadline");
    let redelivered: number;
    try {
      await driver.redeliver(
        delays.map(([body, delayMs]) => ({
          ackId: ackId(body),
          delayMs,
          message: first.get(body)?.message ?? ({} as DriverMessage),
        })),
        AbortSignal.timeout(10_000),
      );
      redelivered = Date.now();
      const requests = modify.mock.calls.map(([request]) => [request?.ackDeadlineSeconds, request?.ackIds]);
      expect(requests).toEqual([
        [0, [ackId("a"), ackId("b")]],
        [2, [ackId("c"), ackId("d")]],
        [600, [ackId("e")]],
      ]);
    } finally {
      modify.mockRestore();
    }
    expect(driver.outstanding.messages).toBe(0);
    const again = await receive(driver, 4, redelivered);
    expect([...again.keys()].sort()).toEqual(["a", "b", "c", "d"]);
    expect(again.get("a")?.afterMs).toBeLessThan(1500);
    expect(again.get("b")?.afterMs).toBeLessThan(1500);
    for (const body of ["c", "d"]) {
      // Not before the delay, and long before the 30 s ack deadline would have brought it back.
      expect(again.get(body)?.afterMs).toBeGreaterThanOrEqual(1800);
      expect(again.get(body)?.afterMs).toBeLessThan(6000);
    }
    for (const { message } of again.values()) expect(message.deliveryAttempt).toBe(2);
    // "e" waits for its 600 s: nothing else comes meanwhile.
    expect([...(await receive(driver, 1, Date.now(), 2000)).keys()]).toEqual([]);
    await driver.sendAcks(
      [...again.values()].map(({ message }) => message.ackId),
      AbortSignal.timeout(10_000),
    );
  });

  it("counts deliveryAttempt 1, 2, 3 itself through redeliver with delay 0, and a nack counts too", async () => {
    const { driver, subscriptionName } = await setUp(30, ["x"]);
    const signal = AbortSignal.timeout(20_000);
    const seen: number[] = [];
    let message = (await receive(driver, 1)).get("x")?.message as DriverMessage;
    seen.push(message.deliveryAttempt ?? 0);
    for (let i = 0; i < 2; i++) {
      await driver.redeliver([{ ackId: message.ackId, delayMs: 0, message }], signal);
      message = (await receive(driver, 1)).get("x")?.message as DriverMessage;
      seen.push(message.deliveryAttempt ?? 0);
    }
    await driver.sendNacks([message.ackId], signal);
    message = (await receive(driver, 1)).get("x")?.message as DriverMessage;
    seen.push(message.deliveryAttempt ?? 0);
    expect(seen).toEqual([1, 2, 3, 4]);
    expect((message.native as ReceivedMessage).deliveryAttempt ?? 0).toBe(0);
    // The count is this driver's: another consumer (another process) starts again at 1.
    await driver.sendNacks([message.ackId], signal);
    const other = consumer(subscriptionName);
    message = (await receive(other, 1)).get("x")?.message as DriverMessage;
    expect(message.deliveryAttempt).toBe(1);
    await other.sendAcks([message.ackId], signal);
  });

  it("uses Pub/Sub's own deliveryAttempt on a subscription with a dead-letter policy", async () => {
    const [deadLetters] = await clients.admin.createTopic(uniqueName("dead-letters"));
    cleanups.push(() => deadLetters.delete());
    const { driver } = await setUp(30, ["p"], {
      deadLetterPolicy: { deadLetterTopic: deadLetters.name, maxDeliveryAttempts: 10 },
    });
    const signal = AbortSignal.timeout(20_000);
    let message = (await receive(driver, 1)).get("p")?.message as DriverMessage;
    expect(message.deliveryAttempt).toBe(1);
    expect((message.native as ReceivedMessage).deliveryAttempt).toBe(1);
    await driver.redeliver([{ ackId: message.ackId, delayMs: 0, message }], signal);
    message = (await receive(driver, 1)).get("p")?.message as DriverMessage;
    expect(message.deliveryAttempt).toBe(2);
    expect((message.native as ReceivedMessage).deliveryAttempt).toBe(2);
    await driver.sendAcks([message.ackId], signal);
  });

  it("reads leaseMs from the subscription's ack deadline on the first receive; 10 s until then", async () => {
    const { driver } = await setUp(45, []);
    expect(driver.leaseMs).toBe(10_000);
    expect(await driver.receiveBatch(10, AbortSignal.timeout(5000))).toEqual([]);
    await vi.waitFor(() => expect(driver.leaseMs).toBe(45_000), { timeout: 5000 });
  });

  it("keeps a message from redelivery while its lease is extended, 25 s on a 10 s ack deadline", async () => {
    const { driver, subscriptionName } = await setUp(10, ["held", "acked"]);
    const got = await receive(driver, 2);
    const held = got.get("held")?.message as DriverMessage;
    const acked = got.get("acked")?.message as DriverMessage;
    await driver.sendAcks([acked.ackId], AbortSignal.timeout(10_000));
    await vi.waitFor(() => expect(driver.leaseMs).toBe(10_000), { timeout: 5000 });
    // What the portable layer does: extend every leaseMs / 2. A stale ackId beside it is ignored.
    const extensions: Promise<void>[] = [];
    const timer = setInterval(() => {
      extensions.push(driver.extendLeases([acked.ackId, held.ackId], AbortSignal.timeout(10_000)));
    }, driver.leaseMs / 2);
    try {
      // Another consumer pulls all along: the held message must not reach it.
      const other = consumer(subscriptionName);
      const stolen = await receive(other, 1, Date.now(), 25_000);
      expect([...stolen.keys()]).toEqual([]);
    } finally {
      clearInterval(timer);
    }
    await Promise.all(extensions);
    expect(extensions.length).toBeGreaterThanOrEqual(4);
    expect(driver.outstanding.messages).toBe(1);
    await driver.sendAcks([held.ackId], AbortSignal.timeout(10_000));
    expect(driver.outstanding.messages).toBe(0);
  }, 60_000);
});

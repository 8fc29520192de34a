import { v1 } from "@google-cloud/pubsub";
import { ErrorCode, errorCode, type Subscription, type Topic } from "@portable-pubsub/core";
import {
  EMPTY_MARKER_KEY,
  GcpSubscriptionDriver,
  GcpTopicDriver,
  openGcpSubscription,
  openGcpTopic,
  PUBSUB_LIMITS,
  type ReceivedMessage,
} from "@portable-pubsub/driver-gcp";
import { describe, expect, it, vi } from "vitest";
import { emulatorForTests } from "./emulator.js";
import { emulatorClients, PROJECT, uniqueName } from "./harness.js";

const emulator = await emulatorForTests();

describe.skipIf(!emulator)("gcppubsub behaviour against the emulator", () => {
  const clients = emulatorClients(emulator?.address);
  const { cleanups } = clients;

  async function pair(options: { ordering?: boolean; orderingKeyFrom?: string; maxOutstandingMessages?: number } = {}) {
    const [t] = await clients.admin.createTopic(uniqueName("behaviour"));
    const [s] = await t.createSubscription(uniqueName("behaviour"), {
      ackDeadlineSeconds: 30,
      enableMessageOrdering: options.ordering ?? false,
    });
    const topic = openGcpTopic(clients.client, t.name, { orderingKeyFrom: options.orderingKeyFrom });
    const subscription = openGcpSubscription(clients.client, s.name, {
      maxOutstandingMessages: options.maxOutstandingMessages,
    });
    cleanups.push(
      () => t.delete(),
      () => s.delete(),
      () => topic.shutdown(),
      () => subscription.shutdown(),
    );
    return { topic, subscription, topicName: t.name, subscriptionName: s.name };
  }

  async function nothingWithin(subscription: Subscription, ms: number): Promise<boolean> {
    return subscription.receive({ signal: AbortSignal.timeout(ms) }).then(
      (m) => {
        m.nack();
        return false;
      },
      () => true,
    );
  }

  describe("Pub/Sub limits are checked before anything is sent", () => {
    const key256 = "é".repeat(128); // 256 bytes of UTF-8 in 128 characters
    const over: [string, (topic: Topic) => Promise<void>, RegExp][] = [
      [
        "101 attributes",
        (t) =>
          t.send({ body: "x", metadata: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`k${i}`, "v"])) }),
        /101 entries; Pub\/Sub takes at most 100 attributes/,
      ],
      [
        "100 attributes, which with the message id's are 101",
        (t) =>
          t.send({ body: "x", metadata: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, "v"])) }),
        /100 entries; Pub\/Sub takes at most 100 attributes per message, one of them the message id's/,
      ],
      [
        "a 257-byte key",
        (t) => t.send({ body: "x", metadata: { [`${key256}a`]: "v" } }),
        /is 257 bytes; Pub\/Sub attribute keys take at most 256 bytes/,
      ],
      [
        "a 1025-byte value",
        (t) => t.send({ body: "x", metadata: { k: "v".repeat(1025) } }),
        /is 1025 bytes; Pub\/Sub attribute values take at most 1024 bytes/,
      ],
      [
        "a 10 MB + 1 byte body",
        (t) => t.send({ body: new Uint8Array(PUBSUB_LIMITS.maxMessageBytes + 1) }),
        /the body is 10000001 bytes; Pub\/Sub takes at most 10000000/,
      ],
      [
        "a body and metadata over 10 MB together",
        (t) => t.send({ body: new Uint8Array(PUBSUB_LIMITS.maxMessageBytes - 1), metadata: { k: "vv" } }),
        // The generated id (36 bytes) under its attribute key "pubsub.id" (9 bytes) counts too.
        /the message is 10000047 bytes with its metadata; Pub\/Sub takes at most 10000000/,
      ],
    ];

    it.each(over)("rejects %s with InvalidArgument and sends nothing", async (_, send, message) => {
      const { topic, subscription } = await pair();
      const error = await send(topic).catch((e: unknown) => e);
      expect(errorCode(error)).toBe(ErrorCode.InvalidArgument);
      expect((error as Error).message).toMatch(message);
      expect(await nothingWithin(subscription, 1500)).toBe(true);
    });

    it("accepts messages exactly at the limits, byte for byte", async () => {
      const { topic, subscription } = await pair();
      // The message id takes one of the 100 attributes, and its bytes count toward the 10 MB.
      const hundred = Object.fromEntries(Array.from({ length: 99 }, (_, i) => [`k${i}`, String(i)]));
      const bigBody = new Uint8Array(PUBSUB_LIMITS.maxMessageBytes - "pubsub.id".length - "big".length).fill(7);
      await topic.send({ body: "attrs", metadata: hundred });
      await topic.send({ body: "key", metadata: { [key256]: "v".repeat(1024) } });
      await topic.send({ id: "big", body: bigBody });
      const got = new Map<string, { id: string; body: Uint8Array; metadata: Readonly<Record<string, string>> }>();
      while (got.size < 3) {
        const m = await subscription.receive({ signal: AbortSignal.timeout(15_000) });
        m.ack();
        got.set(m.body.byteLength > 10 ? "big" : m.text(), m);
      }
      expect(got.get("attrs")?.metadata).toEqual(hundred);
      expect(got.get("key")?.metadata).toEqual({ [key256]: "v".repeat(1024) });
      expect(got.get("big")?.body.byteLength).toBe(PUBSUB_LIMITS.maxMessageBytes - 12);
      expect(got.get("big")?.id).toBe("big");
      expect(got.get("big")?.body.every((b) => b === 7)).toBe(true);
    });

    it("fails only the message over a limit, not the batch it was sent with", async () => {
      const { topic, subscription } = await pair();
      const sends = Array.from({ length: 10 }, (_, i) =>
        topic.send({ body: `m${i}`, metadata: i === 4 ? { k: "v".repeat(2000) } : { i: String(i) } }),
      );
      const outcomes = await Promise.allSettled(sends);
      expect(outcomes.map((o) => o.status)).toEqual([
        ...Array(4).fill("fulfilled"),
        "rejected",
        ...Array(5).fill("fulfilled"),
      ]);
      const bodies: string[] = [];
      while (bodies.length < 9) {
        const m = await subscription.receive({ signal: AbortSignal.timeout(10_000) });
        m.ack();
        bodies.push(m.text());
      }
      expect(bodies.sort()).toEqual(["m0", "m1", "m2", "m3", "m5", "m6", "m7", "m8", "m9"]);
    });

    it("checks in the driver too, before any RPC: a batch over a limit is InvalidArgument even for a missing topic", async () => {
      const driver = new GcpTopicDriver(clients.client, `projects/${PROJECT}/topics/${uniqueName("never-created")}`);
      cleanups.push(() => driver.close(AbortSignal.timeout(5000)));
      const error = await driver
        .sendBatch(
          [
            { body: new Uint8Array(1), metadata: {} },
            { body: new Uint8Array(1), metadata: { k: "v".repeat(1025) } },
          ],
          AbortSignal.timeout(5000),
        )
        .catch((e: unknown) => e);
      expect(errorCode(error)).toBe(ErrorCode.InvalidArgument);
      // The same call with valid messages reaches the emulator, which answers NotFound.
      const missing = await driver
        .sendBatch([{ body: new Uint8Array(1), metadata: {} }], AbortSignal.timeout(5000))
        .catch((e: unknown) => e);
      expect(driver.errors.errorCode(missing)).toBe(ErrorCode.NotFound);
    });
  });

  it("splits a driver batch whose Publish request would exceed 10 MB, and sends all of it", async () => {
    const { topicName, subscription } = await pair();
    const driver = new GcpTopicDriver(clients.client, topicName);
    cleanups.push(() => driver.close(AbortSignal.timeout(5000)));
    const four = (n: number) => ({ body: new Uint8Array(4_000_000).fill(n), metadata: { n: String(n) } });
    const publish = vi.spyOn(v1.PublisherClient.prototype, "publish");
    try {
      await driver.sendBatch([four(1), four(2), four(3)], AbortSignal.timeout(20_000));
      // 12 MB in all: two requests, [1, 2] (8 MB) and [3].
      expect(publish.mock.calls.map(([request]) => request?.messages?.length)).toEqual([2, 1]);
    } finally {
      publish.mockRestore();
    }
    const got: string[] = [];
    while (got.length < 3) {
      // The emulator (a JVM) took over 15 s to hand out 4 MB messages on a loaded machine.
      const m = await subscription.receive({ signal: AbortSignal.timeout(40_000) });
      m.ack();
      expect(m.body.byteLength).toBe(4_000_000);
      expect(m.body[0]).toBe(Number(m.metadata.n));
      got.push(m.metadata.n ?? "");
    }
    expect(got.sort()).toEqual(["1", "2", "3"]);
  }, 150_000);

  it("round-trips an empty message: Pub/Sub needs an attribute, the id's, which is removed from the metadata", async () => {
    const { topic, subscription } = await pair();
    await topic.send({ body: new Uint8Array(0) });
    const m = await subscription.receive({ signal: AbortSignal.timeout(10_000) });
    m.ack();
    expect(m.body.byteLength).toBe(0);
    expect(m.metadata).toEqual({});
    expect(m.as<ReceivedMessage>().message?.attributes).toEqual({ "pubsub.id": m.id });
  });

  it("round-trips an empty message sent without an id (a driver used without core) with a marker attribute", async () => {
    const { topicName, subscription } = await pair();
    const driver = new GcpTopicDriver(clients.client, topicName);
    cleanups.push(() => driver.close(AbortSignal.timeout(5000)));
    await driver.sendBatch([{ body: new Uint8Array(0), metadata: {} }], AbortSignal.timeout(10_000));
    const m = await subscription.receive({ signal: AbortSignal.timeout(10_000) });
    m.ack();
    expect(m.body.byteLength).toBe(0);
    expect(m.metadata).toEqual({});
    expect(m.as<ReceivedMessage>().message?.attributes).toEqual({ [EMPTY_MARKER_KEY]: "1" });
    expect(m.id).toBe(m.loggableId);
  });

  it("sets the ordering key from the metadata key named by orderingKeyFrom, and keeps per-key order", async () => {
    const { topic, subscription } = await pair({ ordering: true, orderingKeyFrom: "customer" });
    const sent = Array.from({ length: 60 }, (_, i) => ({ body: `o${i}`, customer: `c${i % 3}` }));
    await Promise.all(sent.map((s) => topic.send({ body: s.body, metadata: { customer: s.customer } })));
    const byKey = new Map<string, string[]>();
    for (let i = 0; i < 60; i++) {
      const m = await subscription.receive({ signal: AbortSignal.timeout(10_000) });
      m.ack();
      const native = m.as<ReceivedMessage>();
      expect(native.message?.orderingKey).toBe(m.metadata.customer);
      byKey.set(m.metadata.customer ?? "", [...(byKey.get(m.metadata.customer ?? "") ?? []), m.text()]);
    }
    for (const [key, bodies] of byKey) {
      expect(bodies).toEqual(sent.filter((s) => s.customer === key).map((s) => s.body));
    }
  });

  it("holds at most maxOutstandingMessages unsettled, and pulls more once some are acked", async () => {
    const { topic, subscriptionName } = await pair();
    await Promise.all(Array.from({ length: 5 }, (_, i) => topic.send({ body: `f${i}` })));
    const driver = new GcpSubscriptionDriver(clients.client, subscriptionName, { maxOutstandingMessages: 2 });
    cleanups.push(() => driver.close(AbortSignal.timeout(5000)));
    const signal = AbortSignal.timeout(20_000);
    const first: unknown[] = [];
    while (first.length < 2) for (const m of await driver.receiveBatch(10, signal)) first.push(m.ackId);
    expect(first.length).toBe(2);
    expect(driver.outstanding.messages).toBe(2);
    const started = Date.now();
    expect(await driver.receiveBatch(10, signal)).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    await driver.sendAcks([first[0]], signal);
    expect(driver.outstanding.messages).toBe(1);
    let next = await driver.receiveBatch(10, signal);
    while (next.length === 0) next = await driver.receiveBatch(10, signal);
    expect(next.length).toBe(1);
    await driver.sendNacks([first[1], next[0]?.ackId], signal);
    expect(driver.outstanding.messages).toBe(0);
  });

  it("nacks with ModifyAckDeadline 0: the message comes back at once, not after the 30 s ack deadline", async () => {
    const { topic, subscription } = await pair();
    await topic.send({ body: "again" });
    const first = await subscription.receive({ signal: AbortSignal.timeout(10_000) });
    const nackedAt = Date.now();
    first.nack();
    const second = await subscription.receive({ signal: AbortSignal.timeout(10_000) });
    second.ack();
    expect(second.text()).toBe("again");
    expect(Date.now() - nackedAt).toBeLessThan(5000);
    expect(second.loggableId).toBe(first.loggableId);
  });

  it("waits about a second in receiveBatch when nothing is there, and returns at once when its signal fires", async () => {
    const { subscriptionName } = await pair();
    const driver = new GcpSubscriptionDriver(clients.client, subscriptionName);
    cleanups.push(() => driver.close(AbortSignal.timeout(5000)));
    let started = Date.now();
    expect(await driver.receiveBatch(10, AbortSignal.timeout(10_000))).toEqual([]);
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(800);
    expect(waited).toBeLessThan(2000);
    const controller = new AbortController();
    started = Date.now();
    setTimeout(() => controller.abort(), 100);
    expect(await driver.receiveBatch(10, controller.signal)).toEqual([]);
    expect(Date.now() - started).toBeLessThan(500);
  });

  it("pulls about once a second while idle, yet a message after the quiet spell arrives within about a second", async () => {
    const { topic, subscription, subscriptionName } = await pair();
    const pull = vi.spyOn(v1.SubscriberClient.prototype, "pull");
    const pulls = () => pull.mock.calls.filter(([request]) => request?.subscription === subscriptionName).length;
    const arrived: number[] = [];
    const processing = subscription.process(() => {
      arrived.push(Date.now());
    });
    try {
      // The pauses between empty pulls have grown to their longest by then (10, 20, ... 640 ms, then 1 s).
      await new Promise((r) => setTimeout(r, 1500));
      const before = pulls();
      await new Promise((r) => setTimeout(r, 4000));
      const idlePulls = pulls() - before;
      // About 4 at one a second; pausing afresh from 10 ms in every 1 s receive made about 37 (nine a second).
      expect(idlePulls).toBeGreaterThanOrEqual(2);
      expect(idlePulls).toBeLessThanOrEqual(8);

      const sentAt = Date.now();
      await topic.send({ body: "after the quiet spell" });
      while (arrived.length === 0 && Date.now() - sentAt < 10_000) await new Promise((r) => setTimeout(r, 10));
      expect(arrived.length).toBe(1);
      // The longest pause (1 s) plus a pull, with room for a loaded machine.
      expect((arrived[0] as number) - sentAt).toBeLessThan(2500);

      // A pull that brought a message starts the pauses again from 10 ms: several pulls in the next second.
      const afterMessage = pulls();
      await new Promise((r) => setTimeout(r, 1000));
      expect(pulls() - afterMessage).toBeGreaterThanOrEqual(4);
    } finally {
      pull.mockRestore();
      await subscription.shutdown();
      await processing;
    }
  });
});

import { type Message, Subscription, Topic } from "@portable-pubsub/core/driver";
import { expect, it } from "vitest";
import { numbered, type SuiteContext, sortedBodies } from "../context.js";

/** The Go CDK drivertest round trips: bodies and metadata arrive byte for byte. */
export function sendReceiveCases(ctx: SuiteContext): void {
  it("sends and receives messages with their metadata", async () => {
    const { topic, subscription } = await ctx.pair("send-receive");
    const sent = numbered("m", 20);
    await Promise.all(sent.map((body, i) => topic.send({ body, metadata: { index: String(i), kind: "test" } })));
    const got = await ctx.receiveN(subscription, 20);
    expect(sortedBodies(got)).toEqual(sent);
    for (const message of got) {
      expect(message.metadata.kind).toBe("test");
      expect(sent.indexOf(message.text())).toBe(Number(message.metadata.index));
    }
    expect(await ctx.nothingWithin(subscription, 300)).toBe(true);
  });

  it("delivers every message to each of two subscriptions", async ({ skip }) => {
    if (!ctx.caps.multipleSubscriptions) skip(`${ctx.caps.name} does not declare multipleSubscriptions`);
    const opened = await ctx.openTopic("two-subs");
    const a = await ctx.openSubscription(opened, "two-subs-a");
    const b = await ctx.openSubscription(opened, "two-subs-b");
    const sent = numbered("both", 10);
    await Promise.all(sent.map((body) => opened.topic.send({ body })));
    expect(sortedBodies(await ctx.receiveN(a.subscription, 10))).toEqual(sent);
    expect(sortedBodies(await ctx.receiveN(b.subscription, 10))).toEqual(sent);
  });

  it("keeps a JSON body intact", async () => {
    const { topic, subscription } = await ctx.pair("json");
    const value = { id: 42, items: ["a", "b"], nested: { ok: true, none: null }, text: "Grüße, 世界 🚀" };
    await topic.send({ body: JSON.stringify(value), metadata: { "content-type": "application/json" } });
    const [message] = await ctx.receiveN(subscription, 1);
    expect(JSON.parse((message as Message).text())).toEqual(value);
    expect(message?.metadata["content-type"]).toBe("application/json");
  });

  it("round-trips a body that is not UTF-8, byte for byte", async () => {
    const { topic, subscription } = await ctx.pair("binary");
    const body = new Uint8Array(256).map((_, i) => 255 - i);
    await topic.send({ body });
    const [message] = await ctx.receiveN(subscription, 1);
    expect(Array.from(message?.body ?? [])).toEqual(Array.from(body));
  });

  it("round-trips an empty body and empty metadata", async () => {
    const { topic, subscription } = await ctx.pair("empty");
    await topic.send({ body: new Uint8Array(0) });
    const [message] = await ctx.receiveN(subscription, 1);
    expect(message?.body.byteLength).toBe(0);
    expect(Object.keys(message?.metadata ?? { x: 1 }).filter((k) => !k.startsWith("x-"))).toEqual([]);
  });

  it("round-trips metadata with unusual strings", async () => {
    const { topic, subscription } = await ctx.pair("metadata");
    const metadata: Record<string, string> = {
      "with space": "a value with spaces",
      "equals=and:colon": "a=b;c:d,e",
      unicode: "ünïcödé 世界 🚀",
      "emoji-🔑": "🗝️",
      quotes: `"double" and 'single'`,
      empty: "",
      slash: "/path/to?x=1&y=2#frag",
      newline: "line1\nline2",
    };
    await topic.send({ body: "meta", metadata });
    const [message] = await ctx.receiveN(subscription, 1);
    for (const [key, value] of Object.entries(metadata)) expect(message?.metadata[key]).toBe(value);
  });

  it("sends and receives more messages than one batch holds", async () => {
    const { topic, subscription } = await ctx.pair(
      "batching",
      { batching: { maxBatchSize: 7 } },
      { maxReceiveBatchSize: 5 },
    );
    const sent = numbered("batch", 103);
    await Promise.all(sent.map((body) => topic.send({ body })));
    expect(sortedBodies(await ctx.receiveN(subscription, 103))).toEqual(sent);
  });

  it("lets the driver cap batches: sendBatch and receiveBatch respect their limits, and received messages are extensible", async () => {
    const opened = await ctx.openTopic("driver-batch");
    const sub = await ctx.openSubscription(opened, "driver-batch");
    const enc = new TextEncoder();
    const batch = numbered("d", 6).map((b) => ({ body: enc.encode(b), metadata: {} }));
    await opened.created.driver.sendBatch(batch, AbortSignal.timeout(ctx.receiveTimeoutMs));
    const received: string[] = [];
    const ackIds: unknown[] = [];
    const deadline = Date.now() + ctx.receiveTimeoutMs;
    while (received.length < 6 && Date.now() < deadline) {
      const got = await sub.created.driver.receiveBatch(4, AbortSignal.timeout(ctx.receiveTimeoutMs));
      expect(got.length).toBeLessThanOrEqual(4);
      for (const m of got) {
        // Core keeps slots on each received message (lease keeping, claims): a frozen one would throw there.
        expect(Object.isExtensible(m)).toBe(true);
        received.push(new TextDecoder().decode(m.body));
        ackIds.push(m.ackId);
      }
    }
    await sub.created.driver.sendAcks(ackIds, AbortSignal.timeout(ctx.receiveTimeoutMs));
    expect(received.sort()).toEqual(batch.map((m) => new TextDecoder().decode(m.body)).sort());
  });

  it("delivers only the messages of its own topic", async () => {
    const a = await ctx.openTopic("topic-a");
    const b = await ctx.openTopic("topic-b");
    const subA = await ctx.openSubscription(a, "topic-a");
    const subB = await ctx.openSubscription(b, "topic-b");
    await Promise.all([a.topic.send({ body: "for-a" }), b.topic.send({ body: "for-b" })]);
    expect(sortedBodies(await ctx.receiveN(subA.subscription, 1))).toEqual(["for-a"]);
    expect(sortedBodies(await ctx.receiveN(subB.subscription, 1))).toEqual(["for-b"]);
    expect(await ctx.nothingWithin(subA.subscription, 300)).toBe(true);
  });

  it("preserves the order of one publisher's messages", async ({ skip }) => {
    if (!ctx.caps.guaranteedOrder) skip(`${ctx.caps.name} does not declare guaranteedOrder`);
    const { topic, subscription } = await ctx.pair("order");
    const sent = Array.from({ length: 200 }, (_, i) => `order-${String(i).padStart(4, "0")}`);
    for (const body of sent) await topic.send({ body });
    const got = await ctx.receiveN(subscription, 200);
    expect(got.map((m) => m.text())).toEqual(sent);
  });

  it("gives typed access to the driver's native objects", async ({ skip }) => {
    const native = ctx.caps.native;
    if (!native) skip(`${ctx.caps.name} declares no native checks`);
    const { topic, subscription } = await ctx.pair("native");
    if (native?.topic) expect(native.topic(topic.as<unknown>())).toBe(true);
    if (native?.subscription) expect(native.subscription(subscription.as<unknown>())).toBe(true);
    await topic.send({ body: "native" });
    const [message] = await ctx.receiveN(subscription, 1);
    if (native?.message) expect(native.message(message?.as<unknown>())).toBe(true);
    expect(topic).toBeInstanceOf(Topic);
    expect(subscription).toBeInstanceOf(Subscription);
  });
}

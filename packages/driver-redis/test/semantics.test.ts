import { openSubscription, openTopic, type Subscription } from "@portable-pubsub/core";
import type { RedisStreamEntry } from "@portable-pubsub/driver-redis";
import { beforeAll, describe, expect, it } from "vitest";
import {
  cleanupsAfterEach,
  commandClient,
  eventually,
  REDIS_ADDRESS,
  requireRedis,
  skipRedis,
  unique,
} from "./helpers.js";

const serverUrl = `redis://${REDIS_ADDRESS.host}:${REDIS_ADDRESS.port}`;

/** Stream semantics through URLs: trimming, ack deadline, consumers, the stored layout. */
describe.skipIf(skipRedis)("redisstream semantics against Redis", () => {
  beforeAll(requireRedis);
  const admin = commandClient();
  const cleanups = cleanupsAfterEach();

  function stream(prefix: string): string {
    const name = unique(prefix);
    cleanups.push(() => admin.del(name));
    return name;
  }

  async function topicFor(url: string) {
    const topic = await openTopic(url, { serverUrl });
    cleanups.push(() => topic.shutdown());
    return topic;
  }

  async function subscriptionFor(url: string): Promise<Subscription> {
    const sub = await openSubscription(url, { serverUrl });
    cleanups.push(() => sub.shutdown());
    return sub;
  }

  const receive = (sub: Subscription, ms = 10_000) => sub.receive({ signal: AbortSignal.timeout(ms) });

  it("trims the stream to exactly maxLen with trim=exact, and to about maxLen by default", async () => {
    const exact = stream("trim-exact");
    const t1 = await topicFor(`redisstream://${exact}?maxLen=10&trim=exact`);
    await Promise.all(Array.from({ length: 50 }, (_, i) => t1.send({ id: `e-${i}`, body: `e-${i}` })));
    expect(await admin.xlen(exact)).toBe(10);
    const last = (await admin.xrevrange(exact, "+", "-", "COUNT", 1)) as [string, string[]][];
    expect(last[0]?.[1]).toEqual(["message-id", "e-49", "body", "e-49"]);

    const approx = stream("trim-approx");
    const t2 = await topicFor(`redisstream://${approx}?maxLen=100`);
    for (let round = 0; round < 10; round++) {
      await Promise.all(Array.from({ length: 100 }, (_, i) => t2.send({ body: `a-${round}-${i}` })));
    }
    const length = await admin.xlen(approx);
    expect(length).toBeGreaterThanOrEqual(100);
    expect(length).toBeLessThan(1000);
  });

  it("stores the id as a message-id field, the body as a binary field and metadata as m: fields, readable by any Redis client", async () => {
    const name = stream("layout");
    const topic = await topicFor(`redisstream://${name}`);
    const body = Buffer.from([0xff, 0x00, 0xfe, 0x80]);
    await topic.send({ id: "order-17 ✓", body, metadata: { kind: "raw", ключ: "значение" } });
    const [entry] = (await admin.xrangeBuffer(name, "-", "+")) as [Buffer, Buffer[]][];
    const fields = entry?.[1] ?? [];
    expect(fields.map((f) => f.toString("latin1")).filter((_, i) => i % 2 === 0)).toEqual([
      "message-id",
      "body",
      "m:kind",
      Buffer.from("m:ключ").toString("latin1"),
    ]);
    expect(fields[1]?.toString()).toBe("order-17 ✓");
    expect(fields[3]?.equals(body)).toBe(true);
    // And entries written by another program, with the same layout, read back as messages: one with a
    // message-id field has that id, one without has its entry id.
    await admin.xadd(name, "*", "body", "from-redis-cli", "m:source", "cli", "other", "ignored");
    await admin.xadd(name, "*", "message-id", "ext-1", "body", "with an id");
    const sub = await subscriptionFor(`redisstream://${name}?group=${unique("g")}&start=all`);
    const first = await receive(sub);
    const second = await receive(sub);
    const third = await receive(sub);
    expect(Array.from(first.body)).toEqual([0xff, 0x00, 0xfe, 0x80]);
    expect(first.metadata).toEqual({ kind: "raw", ключ: "значение" });
    expect(first.id).toBe("order-17 ✓");
    expect(second.text()).toBe("from-redis-cli");
    expect(second.metadata).toEqual({ source: "cli" });
    const native = second.as<RedisStreamEntry>();
    expect(native.stream).toBe(name);
    expect(native.id).toBe(second.loggableId);
    expect(second.id).toBe(native.id);
    expect(native.fields.map((f) => f.toString())).toContain("other");
    expect([third.text(), third.id, third.metadata]).toEqual(["with an id", "ext-1", {}]);
  });

  it("redelivers after the ack deadline to another consumer, counting delivery attempts", async () => {
    const name = stream("deadline");
    const group = unique("g");
    const url = `redisstream://${name}?group=${group}&ackDeadline=500ms`;
    const a = await openSubscription(url, { serverUrl });
    const b = await subscriptionFor(url);
    const topic = await topicFor(`redisstream://${name}`);
    await topic.send({ body: "slow" });
    const first = await receive(a);
    expect(first.deliveryAttempt).toBe(1);
    // a stops without acking, as if it had crashed: the entry stays pending in its name.
    await a.shutdown();
    const started = Date.now();
    const again = await receive(b);
    expect(again.text()).toBe("slow");
    expect(again.loggableId).toBe(first.loggableId);
    expect(again.deliveryAttempt).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    again.ack();
    await eventually(async () => ((await admin.xpending(name, group)) as unknown[])[0] === 0, 5000, "the ack");
  });

  it("gives each Subscription its own consumer name, and removes an idle consumer at shutdown", async () => {
    const name = stream("consumers");
    const group = unique("g");
    const url = `redisstream://${name}?group=${group}`;
    const topic = await topicFor(`redisstream://${name}`);
    const consumers = async () =>
      ((await admin.xinfo("CONSUMERS", name, group)) as unknown[][]).map((c) => String(c[1]));
    const pendingOf = async () => Number(((await admin.xpending(name, group)) as unknown[])[0]);

    const a = await openSubscription(url, { serverUrl });
    await topic.send({ body: "one" });
    (await receive(a)).ack();
    await eventually(async () => (await pendingOf()) === 0, 3000, "the ack of a");
    const [nameA] = await consumers();
    await a.shutdown();
    expect(await consumers()).toEqual([]);

    const b = await openSubscription(url, { serverUrl });
    await topic.send({ body: "two" });
    (await receive(b)).ack();
    await eventually(async () => (await pendingOf()) === 0, 3000, "the ack of b");
    const [nameB] = await consumers();
    for (const consumer of [nameA, nameB]) expect(consumer).toMatch(/^.+-\d+-[0-9a-f]{8}$/);
    expect(nameB).not.toBe(nameA);
    await b.shutdown();
    expect(await consumers()).toEqual([]);
  });

  it("hands a nacked entry back at once, not after the ack deadline", async () => {
    const name = stream("nack");
    const sub = await subscriptionFor(`redisstream://${name}?group=${unique("g")}&ackDeadline=1h`);
    const topic = await topicFor(`redisstream://${name}`);
    await topic.send({ body: "again" });
    const first = await receive(sub);
    const started = Date.now();
    first.nack();
    const second = await receive(sub, 5000);
    expect(second.text()).toBe("again");
    expect(second.deliveryAttempt).toBe(2);
    // The wake-up (CLIENT UNBLOCK) ends the blocking read: well under the 1 s BLOCK.
    expect(Date.now() - started).toBeLessThan(900);
    second.ack();
  });
});

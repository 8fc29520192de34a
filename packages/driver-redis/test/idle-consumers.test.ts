import { openRedisSubscription } from "@portable-pubsub/driver-redis";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cleanupsAfterEach,
  commandClient,
  eventually,
  readerClient,
  requireRedis,
  skipRedis,
  unique,
} from "./helpers.js";

/**
 * Consumers left behind by processes that crashed (they never ran
 * XGROUP DELCONSUMER at shutdown) are removed by the live consumers' reclaim
 * sweep once idle past idleConsumerMs with nothing pending; live consumers and
 * consumers holding entries stay.
 */
describe.skipIf(skipRedis)("redisstream: idle consumers of crashed processes", () => {
  beforeAll(requireRedis);
  const admin = commandClient();
  const clients: Redis[] = [];
  const cleanups = cleanupsAfterEach();
  afterAll(() => {
    for (const client of [admin, ...clients]) client.disconnect();
  });

  /** A stream with a group and two consumers of a "crashed" process: one holding an entry, one holding none. */
  async function groupWithDeadConsumers() {
    const stream = unique("idle");
    const group = unique("group");
    cleanups.push(() => admin.del(stream));
    await admin.xgroup("CREATE", stream, group, "$", "MKSTREAM");
    await admin.call("XGROUP", "CREATECONSUMER", stream, group, "crashed-empty");
    const id = (await admin.xadd(stream, "*", "body", "held")) as string;
    await admin.xreadgroup("GROUP", group, "crashed-holding", "COUNT", 1, "STREAMS", stream, ">");
    return { stream, group, id };
  }

  async function subscribe(stream: string, group: string, options: Parameters<typeof openRedisSubscription>[3]) {
    const client = commandClient();
    const reader = readerClient(undefined, options?.blockMs ?? 1000);
    clients.push(client, reader);
    const subscription = await openRedisSubscription(client, stream, group, { ...options, reader });
    cleanups.push(() => subscription.shutdown());
    return subscription;
  }

  /**
   * Each consumer's pending count, leaving out `self` if it has none: whether a
   * consumer that never received is listed depends on the Redis version.
   */
  async function consumers(stream: string, group: string, self?: string): Promise<Record<string, number>> {
    const rows = (await admin.call("XINFO", "CONSUMERS", stream, group)) as unknown[][];
    const pending = rows.map((row) => [String(row[1]), Number(row[3])] as const);
    return Object.fromEntries(pending.filter(([name, count]) => name !== self || count > 0));
  }

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it("deletes consumers idle past idleConsumerMs with nothing pending; keeps one holding entries, and a busy one", async () => {
    const { stream, group } = await groupWithDeadConsumers();
    const live = await subscribe(stream, group, { consumer: "live", blockMs: 200 });
    let handled = 0;
    live.process(() => void handled++).catch(() => {});
    // The live consumer gets an entry every 200 ms, so it is never idle for long.
    let fed = 0;
    const feeder = setInterval(() => void admin.xadd(stream, "*", "body", `feed-${fed++}`), 200);
    try {
      await sleep(1600);
      const sweeper = await subscribe(stream, group, {
        consumer: "sweeper",
        ackDeadlineMs: 60_000,
        idleConsumerMs: 1500,
      });
      // The sweeper's receive runs the reclaim pass, whose sweep removes the idle consumer. What it
      // receives (the feeder's entries, shared with the live consumer) does not matter here.
      (await sweeper.receive({ signal: AbortSignal.timeout(5000) })).ack();
    } finally {
      clearInterval(feeder);
    }
    const after = await consumers(stream, group);
    expect(Object.keys(after).sort()).toEqual(["crashed-holding", "live", "sweeper"]);
    expect(after["crashed-holding"]).toBe(1);
    expect(handled).toBeGreaterThan(0);
  });

  it("a live consumer removed while idle (Redis 7.0 counts a read that found nothing as idle) receives on", async () => {
    const { stream, group } = await groupWithDeadConsumers();
    const live = await subscribe(stream, group, { consumer: "live", blockMs: 200 });
    const bodies: string[] = [];
    live.process((m) => void bodies.push(m.text())).catch(() => {});
    await admin.xadd(stream, "*", "body", "first");
    await eventually(() => bodies.length === 1, 5000, "the first entry");
    await sleep(1600);
    const sweeper = await subscribe(stream, group, {
      consumer: "sweeper",
      ackDeadlineMs: 60_000,
      idleConsumerMs: 1500,
    });
    await expect(sweeper.receive({ signal: AbortSignal.timeout(300) })).rejects.toMatchObject({
      code: "DeadlineExceeded",
    });
    expect(await consumers(stream, group, "sweeper")).not.toHaveProperty("crashed-empty");
    // So that the sweeper's read, still blocked, cannot take the next entry.
    await sweeper.shutdown();
    await admin.xadd(stream, "*", "body", "second");
    await eventually(() => bodies.length === 2, 5000, "the second entry");
    expect(bodies).toEqual(["first", "second"]);
    await eventually(async () => (await consumers(stream, group, "sweeper")).live === 0, 5000, "the ack");
  });

  it("deletes a crashed consumer once XAUTOCLAIM has taken its entries over", async () => {
    const { stream, group, id } = await groupWithDeadConsumers();
    await sleep(1200);
    const sweeper = await subscribe(stream, group, { consumer: "sweeper", ackDeadlineMs: 1000, idleConsumerMs: 1000 });
    const message = await sweeper.receive({ signal: AbortSignal.timeout(5000) });
    expect([message.text(), message.loggableId, message.deliveryAttempt]).toEqual(["held", id, 2]);
    expect(await consumers(stream, group)).toEqual({ sweeper: 1 });
    message.ack();
  });

  it("keeps every consumer while none has been idle for idleConsumerMs (default one hour)", async () => {
    const { stream, group } = await groupWithDeadConsumers();
    const sweeper = await subscribe(stream, group, { consumer: "sweeper", ackDeadlineMs: 60_000 });
    await expect(sweeper.receive({ signal: AbortSignal.timeout(1500) })).rejects.toMatchObject({
      code: "DeadlineExceeded",
    });
    expect(await consumers(stream, group, "sweeper")).toEqual({ "crashed-empty": 0, "crashed-holding": 1 });
  });
});

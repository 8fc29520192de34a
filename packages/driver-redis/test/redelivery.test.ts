import type { DriverMessage } from "@portable-pubsub/core/driver";
import { ensureGroup, RedisSubscriptionDriver } from "@portable-pubsub/driver-redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanupsAfterEach, commandClient, readerClient, requireRedis, skipRedis, unique } from "./helpers.js";

/**
 * What the portable layer's redelivery relies on, driver to Redis: lease
 * extension (idle reset), delivery counts through nack and reclaim, and a
 * failed entry held for its delay (lease extended, then nacked) leaving new
 * entries flowing. Core is not involved: these call the driver as core does.
 */
describe.skipIf(skipRedis)("redisstream: leases and redelivery", () => {
  beforeAll(requireRedis);
  const admin = commandClient();
  const cleanups = cleanupsAfterEach();
  afterAll(() => admin.disconnect());

  const BLOCK_MS = 200;
  const signal = () => AbortSignal.timeout(5000);

  /** A stream with a group, deleted after the test. */
  async function group(): Promise<{ stream: string; group: string }> {
    const target = { stream: unique("redeliver"), group: unique("g") };
    cleanups.push(() => admin.del(target.stream));
    await ensureGroup(admin, target.stream, target.group);
    return target;
  }

  /** A consumer of `target` with its own reader; closed after the test. */
  function consumer(target: { stream: string; group: string }, name: string, ackDeadlineMs: number) {
    const client = commandClient();
    const driver = new RedisSubscriptionDriver(client, readerClient(undefined, BLOCK_MS), target, {
      consumer: name,
      ackDeadlineMs,
      blockMs: BLOCK_MS,
      closeReader: true,
      closeClient: true,
    });
    cleanups.push(() => driver.close(AbortSignal.timeout(5000)));
    return driver;
  }

  /** Receives until one message arrives (or 5 s pass). */
  async function one(driver: RedisSubscriptionDriver): Promise<DriverMessage> {
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      const [message, ...more] = await driver.receiveBatch(10, signal());
      expect(more).toEqual([]);
      if (message) return message;
    }
    throw new Error("no message within 5 s");
  }

  /** The XPENDING row of `id`: [owner, delivery count], or undefined when it is not pending. */
  async function pendingRow(stream: string, groupName: string, id: string): Promise<[string, number] | undefined> {
    const rows = (await admin.xpending(stream, groupName, id, id, 1)) as [string, string, number, number][];
    const row = rows[0];
    return row ? [row[1], Number(row[3])] : undefined;
  }

  it("keeps an extended entry from another consumer past leaseMs, ignores stale ids, and lets it go once extensions stop", async () => {
    const target = await group();
    const a = consumer(target, "a", 300);
    const b = consumer(target, "b", 300);
    expect(a.leaseMs).toBe(300);
    const held = (await admin.xadd(target.stream, "*", "body", "held")) as string;
    const acked = (await admin.xadd(target.stream, "*", "body", "acked")) as string;
    const deleted = (await admin.xadd(target.stream, "*", "body", "deleted")) as string;
    const first = await a.receiveBatch(10, signal());
    expect(first.map((m) => [m.ackId, m.deliveryAttempt])).toEqual([
      [held, 1],
      [acked, 1],
      [deleted, 1],
    ]);
    await a.sendAcks([acked]);
    await admin.xdel(target.stream, deleted);

    // As core does: extend every leaseMs/3 for over three leases, while b's receives run reclaim passes.
    const stale = [acked, deleted, "1-1"];
    const started = Date.now();
    let extended = started;
    let taken = 0;
    while (Date.now() - started < 1000) {
      await a.extendLeases([held, ...stale]);
      extended = Date.now();
      const until = Date.now() + 100;
      while (Date.now() < until) taken += (await b.receiveBatch(10, AbortSignal.timeout(100))).length;
    }
    expect(taken).toBe(0);
    // The extension moved no delivery count and brought no stale id back into the pending list.
    expect(await pendingRow(target.stream, target.group, held)).toEqual(["a", 1]);
    expect(await pendingRow(target.stream, target.group, acked)).toBeUndefined();
    expect(await pendingRow(target.stream, target.group, "1-1")).toBeUndefined();

    // Without extensions, the lease runs out and b takes the entry over, as its second delivery.
    const again = await one(b);
    expect([again.ackId, again.deliveryAttempt]).toEqual([held, 2]);
    expect(Date.now() - extended).toBeGreaterThanOrEqual(280);
    expect(await pendingRow(target.stream, target.group, held)).toEqual(["b", 2]);
    await b.sendAcks([held]);
  });

  it("counts deliveryAttempt 1, 2, 3 through sendNacks, then 4 through a reclaim after a crash", async () => {
    const target = await group();
    const a = consumer(target, "a", 30_000);
    const id = (await admin.xadd(target.stream, "*", "body", "poison")) as string;
    const attempts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const message = await one(a);
      expect(message.ackId).toBe(id);
      attempts.push(message.deliveryAttempt ?? 0);
      expect(await pendingRow(target.stream, target.group, id)).toEqual(["a", i + 1]);
      if (i < 2) await a.sendNacks([id]);
    }
    expect(attempts).toEqual([1, 2, 3]);
    // a goes away still holding it (as a crashed process would): b reclaims it after b's ack deadline.
    await a.close(AbortSignal.timeout(5000));
    const b = consumer(target, "b", 300);
    const reclaimed = await one(b);
    expect([reclaimed.ackId, reclaimed.deliveryAttempt]).toEqual([id, 4]);
    await b.sendAcks([id]);
    expect(await pendingRow(target.stream, target.group, id)).toBeUndefined();
  });

  it("delivers new entries while a failed one is held for its delay, then redelivers the held one", async () => {
    const target = await group();
    const a = consumer(target, "a", 400);
    const failed = (await admin.xadd(target.stream, "*", "body", "failed")) as string;
    expect((await one(a)).ackId).toBe(failed);

    // Held for a 1.2 s delay (three leases), its lease extended every leaseMs/2, as core does.
    const fresh: [unknown, number | undefined][] = [];
    const started = Date.now();
    let nextExtension = 0;
    let sent = 0;
    while (Date.now() - started < 1200) {
      if (Date.now() >= nextExtension) {
        await a.extendLeases([failed]);
        nextExtension = Date.now() + 200;
      }
      if (sent < 3 && Date.now() - started >= sent * 400) {
        await admin.xadd(target.stream, "*", "body", `new-${sent++}`);
      }
      const batch = await a.receiveBatch(10, AbortSignal.timeout(150));
      for (const m of batch) fresh.push([m.ackId, m.deliveryAttempt]);
      // Handled at once: acked before their own lease could run out.
      if (batch.length > 0) await a.sendAcks(batch.map((m) => m.ackId));
    }
    expect(fresh).toHaveLength(3);
    expect(fresh.every(([id, attempt]) => id !== failed && attempt === 1)).toBe(true);

    // The delay is over: the nack makes it claimable at once, and it comes back as the second delivery.
    const nacked = Date.now();
    await a.sendNacks([failed]);
    const again = await one(a);
    expect([again.ackId, again.deliveryAttempt]).toEqual([failed, 2]);
    expect(Date.now() - nacked).toBeLessThan(BLOCK_MS + 300);
    await a.sendAcks([failed]);
  });
});

import { collectDistinct, FaultProxy, healthStates } from "@portable-pubsub/conformance";
import { openRedisSubscription, openRedisTopic } from "@portable-pubsub/driver-redis";
import type { Redis } from "ioredis";
import { beforeAll, describe, expect, it } from "vitest";
import {
  cleanupsAfterEach,
  commandClient,
  eventually,
  REDIS_ADDRESS,
  readerClient,
  requireRedis,
  skipRedis,
  unique,
} from "./helpers.js";

/**
 * Faults injected with the FaultProxy between the driver and Redis: cuts
 * (TCP resets) and stalls (silent network) while messages flow. The test
 * clients replace a connection that stays silent for 2 s (socketTimeout).
 */
describe.skipIf(skipRedis)("redisstream under network faults", () => {
  beforeAll(requireRedis);
  const cleanups = cleanupsAfterEach();

  async function setup(options: { ackDeadlineMs: number }) {
    const proxy = await FaultProxy.start({ upstream: REDIS_ADDRESS });
    const url = `redis://${proxy.address}`;
    const direct = commandClient();
    const clients: Redis[] = [commandClient(url), commandClient(url), readerClient(url)];
    const [topicClient, subClient, reader] = clients as [Redis, Redis, Redis];
    const stream = unique("faults");
    const group = unique("group");
    const topic = openRedisTopic(topicClient, stream);
    const subscription = await openRedisSubscription(subClient, stream, group, {
      ackDeadlineMs: options.ackDeadlineMs,
      reader,
    });
    cleanups.push(async () => {
      await topic.shutdown({ signal: AbortSignal.timeout(5000) }).catch(() => {});
      await subscription.shutdown({ signal: AbortSignal.timeout(5000) }).catch(() => {});
      for (const client of clients) client.disconnect();
      await proxy.close();
      await direct.del(stream);
      direct.disconnect();
    });
    return { proxy, direct, topic, subscription, stream, group };
  }

  /** Processes messages, counting distinct bodies and duplicates. */

  it("resumes a blocked read after a cut, without waiting for the ack deadline", async () => {
    // A 60 s ack deadline: if anything here relied on reclaiming, the test would time out.
    const { proxy, direct, subscription, stream } = await setup({ ackDeadlineMs: 60_000 });
    const got = collectDistinct(subscription);
    await new Promise((r) => setTimeout(r, 300));
    const accepted = proxy.accepted;
    expect(proxy.cut()).toBeGreaterThan(0);
    for (let i = 0; i < 100; i++) await direct.xadd(stream, "*", "body", `after-cut-${i}`);
    await eventually(() => got.seen.size === 100, 10_000, "receiving 100 messages after the cut");
    expect(proxy.accepted).toBeGreaterThan(accepted);
    expect(got.duplicates).toBe(0);
  });

  it("resumes a blocked read after a stall longer than the socket timeout", async () => {
    const { proxy, direct, subscription, stream } = await setup({ ackDeadlineMs: 2000 });
    const states = healthStates(subscription);
    const got = collectDistinct(subscription);
    await new Promise((r) => setTimeout(r, 300));
    proxy.stall();
    for (let i = 0; i < 100; i++) await direct.xadd(stream, "*", "body", `during-stall-${i}`);
    // The reader's socket timeout is BLOCK + 2 s: wait it out so the connection is replaced.
    await eventually(() => states.includes("reconnecting"), 10_000, "health reporting the stalled connection");
    expect(got.seen.size).toBe(0);
    proxy.resume();
    await eventually(() => got.seen.size === 100, 15_000, "receiving 100 messages after the stall");
    await eventually(() => subscription.health.state === "ready", 10_000, "health back to ready");
    console.info(`[redisstream] stall: 100 sent, ${got.seen.size} received, ${got.duplicates} duplicates`);
  });

  /** Sends 300 messages while the network stalls for `stallMs`; returns how many entries the stream got for them. */
  async function sendThroughStall(stallMs: number) {
    const { proxy, direct, topic, stream } = await setup({ ackDeadlineMs: 2000 });
    await topic.send({ body: "warm-up" });
    proxy.stall();
    let settled = 0;
    const sends = Array.from({ length: 300 }, (_, i) =>
      topic.send({ body: `stalled-${i}` }).finally(() => {
        settled++;
      }),
    );
    await new Promise((r) => setTimeout(r, stallMs));
    const settledDuringStall = settled;
    proxy.resume();
    const outcomes = await Promise.allSettled(sends);
    const entries = (await direct.xrange(stream, "-", "+")) as [string, string[]][];
    const bodies = new Set(entries.map(([, fields]) => fields[1] as string));
    return { settledDuringStall, rejected: outcomes.filter((o) => o.status === "rejected"), entries, bodies };
  }

  it("holds sends through a short stall: each resolves after it, no duplicates", async () => {
    const { settledDuringStall, rejected, entries, bodies } = await sendThroughStall(1000);
    expect(settledDuringStall).toBe(0);
    expect(rejected).toEqual([]);
    expect(bodies.size).toBe(301);
    expect(entries.length).toBe(301);
  });

  it("resends after a stall longer than the socket timeout: none lost, duplicates counted", async () => {
    const { settledDuringStall, rejected, entries, bodies } = await sendThroughStall(3000);
    expect(settledDuringStall).toBe(0);
    expect(rejected).toEqual([]);
    expect(bodies.size).toBe(301);
    // The stalled connection is replaced and its XADDs sent again; the proxy also delivers the held
    // bytes of the old one when the stall ends, as a slow network would: at-least-once, so duplicates.
    console.info(`[redisstream] long send stall: 301 sent, ${entries.length - bodies.size} duplicate entries`);
  });

  it("delivers every message while connections are cut and stalled again and again", async () => {
    const { proxy, topic, subscription } = await setup({ ackDeadlineMs: 2000 });
    const got = collectDistinct(subscription);
    const total = 6000;
    let faults = 0;
    let stopped = false;
    const injector = (async () => {
      const steps: [() => void, number][] = [
        [() => proxy.cut(), 300],
        [() => proxy.stall(), 800],
        [() => proxy.resume(), 300],
        [() => proxy.cut(), 200],
        [() => proxy.stall(), 3500],
        [() => proxy.resume(), 300],
      ];
      // Two rounds, then a clean network: on a loaded machine the sends crawl through stalls, and an injector
      // that ran until the last send took the test past its timeout (61 s, where a quiet machine takes 8 s).
      for (let round = 0; round < 2 && !stopped; round++) {
        for (const [fault, pause] of steps) {
          if (stopped) break;
          fault();
          faults++;
          await new Promise((r) => setTimeout(r, pause));
        }
      }
      proxy.resume();
    })();
    const failures: unknown[] = [];
    try {
      await Promise.all(
        Array.from({ length: 10 }, async (_, p) => {
          for (let i = p; i < total; i += 10) {
            await topic.send({ body: `m-${i}` }).catch((err: unknown) => failures.push(err));
            if (i % 100 === p) await new Promise((r) => setTimeout(r, 10));
          }
        }),
      );
    } finally {
      stopped = true;
      await injector;
    }
    expect(failures).toEqual([]);
    await eventually(() => got.seen.size === total, 30_000, `receiving all ${total} messages`);
    expect(faults).toBeGreaterThanOrEqual(6);
    console.info(
      `[redisstream] cuts and stalls: ${total} sent, ${got.seen.size} distinct received, ` +
        `${got.duplicates} duplicates, ${faults} faults, ${proxy.accepted} connections`,
    );
  }, 120_000);
});

/**
 * The conformance kit's PacedLoad, which failover tests on real brokers
 * drive, checked where nothing is lost: on mem://, every paced send arrives
 * once; and against a subscription nobody reads, every acknowledged send is
 * reported lost once deliveries stay quiet.
 */
import { PacedLoad } from "@portable-pubsub/conformance";
import { MemBroker, openMemSubscription, openMemTopic } from "@portable-pubsub/driver-memory";
import { describe, expect, it } from "vitest";

describe("PacedLoad (conformance kit)", () => {
  it("sends at its rate, settles, and sees every send arrive once", async () => {
    const broker = new MemBroker();
    const topic = openMemTopic("paced", { broker });
    const subscription = openMemSubscription("paced", { broker, subscription: "all" });
    const load = new PacedLoad(topic, subscription, 2000);
    const result = await load.settle(300);
    expect(result.total).toBeGreaterThanOrEqual(300);
    expect(result.failures).toEqual([]);
    expect(result.acked.size).toBe(result.total);
    await load.allArrived(result.total, 10_000);
    expect(load.distinct).toBe(result.total);
    expect(load.duplicates).toBe(0);
    expect(await load.lostOf(result.acked, 200)).toEqual([]);
    expect(load.missingRanges(result.total)).toBe("");
    await subscription.shutdown();
    await topic.shutdown();
    expect(await load.processed).toBe("resolved");
  });

  it("says how soon after a moment a send made after it resolved and arrived (recoveryAfter)", async () => {
    const broker = new MemBroker();
    const topic = openMemTopic("recovery", { broker });
    const subscription = openMemSubscription("recovery", { broker, subscription: "all" });
    const load = new PacedLoad(topic, subscription, 2000);
    while (load.sent < 10) await new Promise((r) => setTimeout(r, 5));
    expect(load.recoveryAfter(Date.now() + 60_000)).toEqual({ sendMs: undefined, receiveMs: undefined });
    const since = Date.now();
    const result = await load.settle(load.sent + 20);
    await load.allArrived(result.total, 10_000);
    const { sendMs, receiveMs } = load.recoveryAfter(since);
    expect(sendMs).toBeGreaterThanOrEqual(0);
    expect(receiveMs).toBeGreaterThanOrEqual(0);
    // Later than every send: nothing was made after it.
    expect(load.recoveryAfter(Date.now() + 1)).toEqual({ sendMs: undefined, receiveMs: undefined });
    await subscription.shutdown();
    await topic.shutdown();
  });

  it("names what never arrived: as lost acknowledged sends, and as ranges", async () => {
    const broker = new MemBroker();
    const topic = openMemTopic("unread", { broker });
    // Messages go to a subscription the load does not read; the load's own subscription is of another topic.
    const unread = openMemSubscription("unread", { broker, subscription: "kept" });
    const other = openMemTopic("other", { broker });
    const elsewhere = openMemSubscription("other", { broker, subscription: "empty" });
    const load = new PacedLoad(topic, elsewhere, 2000);
    const result = await load.settle(50);
    expect(await load.lostOf(result.acked, 200)).toEqual([...result.acked].sort((a, b) => a - b));
    expect(load.missingRanges(result.total)).toBe(`0–${result.total - 1}`);
    await expect(load.allArrived(result.total, 100)).rejects.toThrow(`missing: 0–${result.total - 1}`);
    for (const target of [elsewhere, unread, other, topic]) await target.shutdown();
  });
});

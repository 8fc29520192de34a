/**
 * Delay buckets and names (no broker): a delay is never rounded down, at
 * most a quarter up; names are unique per queue and bucket and fit AMQP.
 */
import { describe, expect, it } from "vitest";
import { bucketOf, delayQueueArguments, delayQueueName } from "../dist/delay-queues.js";

describe("rabbit delay buckets", () => {
  it("rounds every delay from 1 ms to 10 minutes up, by at most 25%, to one of few buckets", () => {
    const buckets = new Set<number>();
    for (let ms = 1; ms <= 600_000; ms += ms < 5000 ? 1 : 97) {
      const bucket = bucketOf(ms);
      expect(bucket).toBeGreaterThanOrEqual(ms);
      expect(bucket).toBeLessThanOrEqual(Math.max(ms + 1, ms * 1.25));
      buckets.add(bucket);
    }
    expect([bucketOf(0.2), bucketOf(600), bucketOf(1000), bucketOf(3000), bucketOf(60_000)]).toEqual([
      1, 640, 1024, 3072, 65_536,
    ]);
    // 1–8 ms one by one, four per doubling for the 16 doublings from 8 ms to 2^19 ms, then 655,360 ms up to 10 minutes.
    expect(buckets.size).toBe(8 + 4 * 16 + 1);
  });

  it("names a delay queue after its queue and bucket, within 255 bytes and outside amq.", () => {
    expect(delayQueueName("orders", 640)).toBe("orders.pubsub-delay.640");
    expect(delayQueueName("amq.gen-xyz", 8)).toBe("pubsub.amq.gen-xyz.pubsub-delay.8");
    const long = "é".repeat(127); // 254 bytes
    const a = delayQueueName(long, 640);
    const b = delayQueueName(`${"é".repeat(126)}x`, 640);
    expect(Buffer.byteLength(a)).toBeLessThanOrEqual(255);
    expect(a.endsWith(".pubsub-delay.640")).toBe(true);
    expect(a).not.toBe(b);
    expect(a).not.toContain("\uFFFD");
  });

  it("declares a delay queue that dead-letters to its queue, and outlives four TTLs", () => {
    expect(delayQueueArguments("orders", 640, 1_800_000)).toEqual({
      "x-queue-type": "classic",
      "x-message-ttl": 640,
      "x-dead-letter-exchange": "",
      "x-dead-letter-routing-key": "orders",
      "x-expires": 1_800_000,
    });
    expect(delayQueueArguments("orders", 1_048_576, 1_800_000)["x-expires"]).toBe(4_194_304);
  });
});

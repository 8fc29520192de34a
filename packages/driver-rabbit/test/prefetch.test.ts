/** The automatic prefetch keeps about 32 MiB unacked: 500 small messages at most, fewer large ones. */
import { describe, expect, it } from "vitest";
import {
  AutoPrefetch,
  INITIAL_PREFETCH,
  MAX_AUTO_PREFETCH,
  MAX_STARVED_PREFETCH,
  PREFETCH_BYTES,
} from "../dist/prefetch.js";

const feed = (auto: AutoPrefetch, bytes: number, n: number) => {
  const changes: number[] = [];
  for (let i = 0; i < n; i++) {
    const next = auto.observe(bytes);
    if (next !== undefined) changes.push(next);
  }
  return changes;
};

describe("rabbit automatic prefetch", () => {
  it("grows to 500 for small messages, shrinks for large ones, and does not churn", () => {
    const auto = new AutoPrefetch();
    expect(auto.current).toBe(INITIAL_PREFETCH);
    expect(feed(auto, 256, 31)).toEqual([]);
    expect(feed(auto, 256, 1)).toEqual([MAX_AUTO_PREFETCH]);
    expect(feed(auto, 300, 1000)).toEqual([]);
    // 1 MiB messages: the target is 32 MiB / (1 MiB + 512 B of overhead) = 31; it settles within 25% above.
    expect(feed(auto, 1024 * 1024, 320).length).toBeGreaterThan(0);
    expect(auto.current).toBeGreaterThanOrEqual(31);
    expect(auto.current * 1024 * 1024).toBeLessThanOrEqual(PREFETCH_BYTES * 1.25);
    expect(feed(auto, 64 * 1024 * 1024, 64).at(-1)).toBe(1);
  });
});

describe("rabbit automatic prefetch, starved", () => {
  it("doubles when the window held the application back, up to 2,000, and the size checks keep it", () => {
    const auto = new AutoPrefetch();
    feed(auto, 256, 32);
    expect(auto.current).toBe(MAX_AUTO_PREFETCH);
    expect([auto.starved(), auto.starved(), auto.starved()]).toEqual([1000, MAX_STARVED_PREFETCH, undefined]);
    expect(feed(auto, 256, 320)).toEqual([]);
    expect(auto.current).toBe(MAX_STARVED_PREFETCH);
    // Large messages still bring it down to the byte target, and a starved consumer stays within it.
    expect(feed(auto, 1024 * 1024, 320).length).toBeGreaterThan(0);
    expect(auto.current).toBeLessThan(64);
    // At the byte target already (32 MiB / (1 MiB + 512 B) = 31, within 25% above): no growth.
    expect(auto.starved()).toBeUndefined();
  });

  it("starts doubling from the initial prefetch", () => {
    const auto = new AutoPrefetch();
    expect(auto.starved()).toBe(INITIAL_PREFETCH * 2);
  });
});

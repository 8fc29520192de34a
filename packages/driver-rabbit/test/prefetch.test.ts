/** The automatic prefetch keeps about 32 MiB unacked: 500 small messages at most, fewer large ones. */
import { describe, expect, it } from "vitest";
import { AutoPrefetch, INITIAL_PREFETCH, MAX_AUTO_PREFETCH, PREFETCH_BYTES } from "../dist/prefetch.js";

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

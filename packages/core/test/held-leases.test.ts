import { HeldLeases, type HeldLeasesOptions, MAX_TIMER_MS } from "@portable-pubsub/core/driver";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

/** Held items are objects (a HeldLeases keeps a slot on each): one per name, so that "a" is the same item each time. */
interface Item {
  readonly name: string;
}
const byName = new Map<string, Item>();
function item(name: string): Item {
  const found = byName.get(name) ?? { name };
  byName.set(name, found);
  return found;
}
const names = (items: readonly Item[]) => items.map((i) => i.name);

/** A HeldLeases of named items with a 1 s lease (unless overridden), recording each extension and error. */
function keeper(options: Partial<HeldLeasesOptions<Item>> = {}) {
  const calls: string[][] = [];
  const errors: unknown[] = [];
  const leases = new HeldLeases<Item>({
    leaseMs: () => 1000,
    extend: (items) => {
      calls.push(names(items));
    },
    onError: (err) => errors.push(err),
    ...options,
  });
  return { leases, calls, errors };
}

describe("HeldLeases", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("extends every held item, oldest first, in one call every half lease, while any is held", () => {
    const { leases, calls } = keeper();
    leases.hold(item("a"));
    vi.advanceTimersByTime(200);
    leases.hold(item("b"));
    vi.advanceTimersByTime(299);
    expect(calls).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(calls).toEqual([["a", "b"]]);
    vi.advanceTimersByTime(500);
    expect(calls).toEqual([
      ["a", "b"],
      ["a", "b"],
    ]);
    leases.release(item("a"));
    vi.advanceTimersByTime(500);
    expect(calls).toEqual([["a", "b"], ["a", "b"], ["b"]]);
    leases.release(item("b"));
    vi.advanceTimersByTime(500);
    // The tick that found nothing held did not schedule another.
    expect(calls).toHaveLength(3);
    expect(vi.getTimerCount()).toBe(0);
    // Holding again starts the ticks again, half a lease from then.
    leases.hold(item("c"));
    vi.advanceTimersByTime(499);
    expect(calls).toHaveLength(3);
    vi.advanceTimersByTime(1);
    expect(calls).toEqual([["a", "b"], ["a", "b"], ["b"], ["c"]]);
    leases.stop();
  });

  it("reads the lease before each tick: never more often than every 50 ms, every 5 s while unknown, within a timer's range", () => {
    let lease: number | undefined = 10;
    const { leases, calls } = keeper({ leaseMs: () => lease });
    leases.hold(item("a"));
    vi.advanceTimersByTime(49);
    expect(calls).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(calls).toHaveLength(1);
    // The tick at 100 ms schedules the next from the lease it then reads.
    lease = undefined;
    vi.advanceTimersByTime(50);
    expect(calls).toHaveLength(2);
    vi.advanceTimersByTime(4999);
    expect(calls).toHaveLength(2);
    lease = 0;
    vi.advanceTimersByTime(1);
    expect(calls).toHaveLength(3);
    vi.advanceTimersByTime(4999);
    expect(calls).toHaveLength(3);
    lease = 2 ** 40;
    vi.advanceTimersByTime(1);
    expect(calls).toHaveLength(4);
    vi.advanceTimersByTime(MAX_TIMER_MS - 1);
    expect(calls).toHaveLength(4);
    vi.advanceTimersByTime(1);
    expect(calls).toHaveLength(5);
    leases.stop();
  });

  it("drops an item once it has been held maxHoldMs, tells onDropped, and stops ticking when none is left", () => {
    const dropped: string[][] = [];
    const { leases, calls } = keeper({
      leaseMs: () => 100,
      maxHoldMs: 120,
      onDropped: (items) => dropped.push(names(items)),
    });
    leases.hold(item("a"));
    vi.advanceTimersByTime(30);
    leases.hold(item("c"));
    vi.advanceTimersByTime(30);
    leases.hold(item("b"));
    vi.advanceTimersByTime(140);
    // Ticks at 50, 100, 150 and 200 ms: at 150, a (held 150 ms) and c (exactly 120 ms) are dropped; at 200, b.
    expect(calls).toEqual([["a", "c"], ["a", "c", "b"], ["b"]]);
    expect(dropped).toEqual([["a", "c"], ["b"]]);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(1000);
    expect(calls).toHaveLength(3);
  });

  it("skips a tick while the previous extension is still pending, and goes on once it settled", async () => {
    let finish: () => void = () => {};
    const calls: string[][] = [];
    const { leases } = keeper({
      extend: (items) => {
        calls.push(names(items));
        return new Promise<void>((resolve) => {
          finish = resolve;
        });
      },
    });
    leases.hold(item("a"));
    await vi.advanceTimersByTimeAsync(500);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(500);
    expect(calls).toHaveLength(1);
    finish();
    await vi.advanceTimersByTimeAsync(500);
    expect(calls).toHaveLength(2);
    leases.stop();
  });

  it("reports what extend throws or rejects with, and goes on ticking", async () => {
    const failures = [new Error("thrown"), new Error("rejected")];
    let n = 0;
    const { leases, errors } = keeper({
      extend: () => {
        n++;
        if (n === 1) throw failures[0];
        if (n === 2) return Promise.reject(failures[1]);
      },
    });
    leases.hold(item("a"));
    await vi.advanceTimersByTimeAsync(1500);
    expect(n).toBe(3);
    expect(errors).toEqual(failures);
    leases.stop();
  });

  it("stops for good: no extension after stop, and a later hold is ignored", () => {
    const { leases, calls } = keeper();
    leases.hold(item("a"));
    leases.hold(item("b"));
    vi.advanceTimersByTime(500);
    leases.stop();
    expect(vi.getTimerCount()).toBe(0);
    leases.hold(item("c"));
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(5000);
    expect(calls).toEqual([["a", "b"]]);
  });

  it("hands items over, extending at once, in one call, those last extended more than a quarter lease ago", () => {
    const { leases, calls } = keeper();
    leases.hold(item("a"));
    vi.advanceTimersByTime(200);
    leases.hold(item("b"));
    vi.advanceTimersByTime(100);
    // At 300 ms: a was held 300 ms ago, b 100 ms ago; "x" is not held.
    leases.handOver(["a", "b", "x"].map(item));
    expect(calls).toEqual([["a"]]);
    // Both were released: the tick at 500 ms finds nothing.
    vi.advanceTimersByTime(1000);
    expect(calls).toEqual([["a"]]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("counts a tick's extension as an item's last when handing it over", () => {
    const { leases, calls } = keeper();
    leases.hold(item("a"));
    leases.hold(item("b"));
    vi.advanceTimersByTime(700);
    // Extended at 500 ms: 200 ms ago.
    leases.handOver(["a"].map(item));
    expect(calls).toEqual([["a", "b"]]);
    vi.advanceTimersByTime(100);
    leases.handOver(["b"].map(item));
    expect(calls).toEqual([["a", "b"], ["b"]]);
    leases.stop();
  });

  it("does not extend an item held past maxHoldMs when handing it over", () => {
    const { leases, calls } = keeper({ maxHoldMs: 250 });
    leases.hold(item("a"));
    vi.advanceTimersByTime(260);
    leases.handOver(["a"].map(item));
    expect(calls).toEqual([]);
    leases.stop();
  });

  it("holds items that cannot take a slot (string ids) too, with the same order and compaction", () => {
    const calls: string[][] = [];
    const leases = new HeldLeases<string>({
      leaseMs: () => 1000,
      extend: (ids) => void calls.push([...ids]),
      onError: () => {},
    });
    // 400 held, 320 released: past half of at least 256 places, the list compacts.
    const ids = Array.from({ length: 400 }, (_, i) => `id${i}`);
    for (const id of ids) leases.hold(id);
    for (const id of ids.slice(0, 320)) leases.release(id);
    leases.hold("id390");
    expect(leases.size).toBe(80);
    vi.advanceTimersByTime(500);
    expect(calls).toEqual([ids.slice(320)]);
    leases.handOver(["id385", "nope"]);
    expect(leases.size).toBe(79);
    leases.stop();
    expect(leases.size).toBe(0);
  });

  it("keeps the order of what stays held through releases that compact it, and one item in two keepers apart", () => {
    const first = keeper();
    const second = keeper();
    const many = Array.from({ length: 400 }, (_, i) => item(`m${i}`));
    for (const m of many) first.leases.hold(m);
    second.leases.hold(many[5] as Item);
    // Every one not divisible by 3 released, and the last 40: past half of at least 256 places, the list compacts.
    const kept = many.filter((_, i) => i % 3 === 0 && i < 360);
    for (const m of many) if (!kept.includes(m)) first.leases.release(m);
    expect(first.leases.size).toBe(kept.length);
    // Held again: its time is renewed, its place kept.
    first.leases.hold(kept[0] as Item);
    vi.advanceTimersByTime(500);
    expect(first.calls).toEqual([names(kept)]);
    // The second keeper's slot on m5 is its own: the first's release left it held there.
    expect(second.calls).toEqual([["m5"]]);
    second.leases.release(many[5] as Item);
    first.leases.release(many[5] as Item);
    expect(second.leases.size).toBe(0);
    first.leases.stop();
    // After stop nothing is held, and a stale slot is not taken for a held item.
    expect(first.leases.size).toBe(0);
    first.leases.release(kept[1] as Item);
    expect(first.leases.size).toBe(0);
  });
});

describe("HeldLeases timer", () => {
  it("never keeps the process alive", () => {
    const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const before = timeouts();
    const { leases } = keeper();
    leases.hold(item("a"));
    expect(timeouts()).toBe(before);
    leases.stop();
  });
});

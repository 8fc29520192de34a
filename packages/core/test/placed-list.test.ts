/**
 * The kit's PlacedList: items in order, each told its index, holes left by
 * removals compacted once they are the majority, wherever they are.
 */
import { PlacedList } from "@portable-pubsub/core/driver";
import { describe, expect, it } from "vitest";

interface Item {
  name: string;
  at: number;
}

function list(): { items: PlacedList<Item>; count(): number } {
  let places = 0;
  const items = new PlacedList<Item>((item, at) => {
    item.at = at;
    places++;
  });
  return { items, count: () => places };
}

const make = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `i${i}`, at: -1 }));

describe("PlacedList", () => {
  it("tells each item its index, finds it there with its number, and leaves a hole where one is removed", () => {
    const { items } = list();
    const [a, b, c] = make(3) as [Item, Item, Item];
    items.push(a, 10);
    items.push(b, 20);
    items.push(c);
    expect([a.at, b.at, c.at]).toEqual([0, 1, 2]);
    expect([items.at(1), items.valueAt(1), items.valueAt(2)]).toEqual([b, 20, 0]);
    items.setValueAt(1, 21);
    items.removeAt(a.at);
    expect(items.at(0)).toBeUndefined();
    expect(items.size).toBe(2);
    expect(items.first()).toBe(b);
    const seen: [string, number][] = [];
    items.forEach((item, value) => {
      seen.push([item.name, value]);
    });
    expect(seen).toEqual([
      ["i1", 21],
      ["i2", 0],
    ]);
    items.removeAt(b.at);
    items.removeAt(c.at);
    expect([items.size, items.first()]).toEqual([0, undefined]);
  });

  it("compacts once holes are the majority, anywhere: an item kept at the front does not let it grow", () => {
    const { items, count } = list();
    const all = make(10_000);
    const kept = all[0] as Item;
    let longest = 0;
    // Each round adds 100 and removes all but the first: holes pile up behind an item that never leaves.
    for (let round = 0; round < 100; round++) {
      const batch = all.slice(round * 100, round * 100 + 100);
      for (const item of batch) if (item !== kept) items.push(item, round);
      if (round === 0) items.push(kept, -1);
      for (const item of batch) if (item !== kept) items.removeAt(item.at);
      longest = Math.max(longest, kept.at);
    }
    expect(items.size).toBe(1);
    expect(items.first()).toBe(kept);
    expect(items.at(kept.at)).toBe(kept);
    expect(items.valueAt(kept.at)).toBe(-1);
    // Without compaction the kept item would sit at 99 and the list hold 10,000 places.
    expect(kept.at).toBe(0);
    expect(count()).toBeGreaterThan(10_000);
    expect(longest).toBeLessThan(300);
  });

  it("keeps order and numbers through compactions, and forEach sees the list as it was when called", () => {
    const { items } = list();
    const all = make(1000);
    for (const [i, item] of all.entries()) items.push(item, i);
    const stay = all.filter((_, i) => i % 7 === 0);
    for (const item of all) if (!stay.includes(item)) items.removeAt(item.at);
    expect(items.size).toBe(stay.length);
    const order: string[] = [];
    items.forEach((item, value) => {
      expect(value).toBe(Number(item.name.slice(1)));
      order.push(item.name);
      // Removing while visiting: later items are still visited, from the list as it was.
      if (item.at >= 0 && items.at(item.at) === item) items.removeAt(item.at);
    });
    expect(order).toEqual(stay.map((item) => item.name));
    expect(items.size).toBe(0);
    items.push(all[3] as Item, 3);
    expect([items.first(), (all[3] as Item).at]).toEqual([all[3], 0]);
  });
});

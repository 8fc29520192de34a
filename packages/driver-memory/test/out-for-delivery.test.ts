import { describe, expect, it } from "vitest";
import { OutForDelivery } from "../src/out-for-delivery.js";
import { Backlog, copyMessages, type StoredMessage } from "../src/stored.js";

/** `n` stored messages, each delivered once (delivery i + 1). */
function delivered(n: number): StoredMessage[] {
  const backlog = new Backlog();
  backlog.append(
    copyMessages(
      Array.from({ length: n }, (_, i) => ({ body: new Uint8Array([i]), metadata: {} })),
      1,
    ),
  );
  return Array.from({ length: n }, (_, i) => {
    const message = backlog.shift();
    message.delivery = i + 1;
    return message;
  });
}
const ref = (m: StoredMessage) => ({ native: m, delivery: m.delivery });

describe("OutForDelivery", () => {
  it("finds a message by its delivery while it is out, and nothing for a stale or foreign ackId", () => {
    const out = new OutForDelivery();
    const other = new OutForDelivery();
    const [a, b, c] = delivered(3) as [StoredMessage, StoredMessage, StoredMessage];
    out.add(a);
    out.add(b);
    other.add(c);
    const staleB = ref(b);
    expect(out.find(ref(a))).toBe(a);
    expect(out.find(ref(c))).toBeUndefined(); // another subscription's delivery
    for (const foreign of [12345, "1", null, undefined, {}, { native: a }]) expect(out.find(foreign)).toBeUndefined();
    out.remove(b);
    expect(out.find(staleB)).toBeUndefined(); // settled
    b.delivery = 7;
    out.add(b);
    expect(out.find(staleB)).toBeUndefined(); // delivered again: the earlier ackId stays stale
    expect(out.find(ref(b))).toBe(b);
    expect(out.size).toBe(2);
  });

  it("keeps deadline order through removals and re-adds, and compacts while one message stays out", () => {
    const out = new OutForDelivery();
    const messages = delivered(5000);
    for (const m of messages) out.add(m);
    const held = messages[0] as StoredMessage;
    // Everything but the first and every 500th settles: the first stays at the head the whole time.
    for (const [i, m] of messages.entries()) if (i > 0 && i % 500 !== 0) out.remove(m);
    expect(out.size).toBe(10);
    expect(out.first()).toBe(held);
    const rest = messages.filter((_, i) => i % 500 === 0);
    expect(rest.every((m) => out.find(ref(m)) === m)).toBe(true);
    // Extending the first moves it behind the others.
    out.remove(held);
    out.add(held);
    expect(out.first()).toBe(messages[500]);
    const order: StoredMessage[] = [];
    for (let m = out.first(); m !== undefined; m = out.first()) {
      order.push(m);
      out.remove(m);
    }
    expect(order).toEqual([...rest.slice(1), held]);
    expect(out.size).toBe(0);
  });
});

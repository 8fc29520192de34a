import { DeliveryBuffer, type DriverNotice } from "@portable-pubsub/core/driver";
import { describe, expect, it } from "vitest";

const message = (text: string) => ({ body: new TextEncoder().encode(text), metadata: {} });
const texts = (messages: { body: Uint8Array }[]) => messages.map((m) => new TextDecoder().decode(m.body));
const never = new AbortController().signal;

describe("DeliveryBuffer", () => {
  it("gives pushed deliveries in order, in batches of at most max, each with its connection's ackId", async () => {
    const buffer = new DeliveryBuffer<number>();
    buffer.push(message("a"), 1);
    buffer.push(message("b"), 2);
    buffer.push(message("c"), 3);
    const first = await buffer.take(2, 1000, never);
    expect(texts(first)).toEqual(["a", "b"]);
    expect(first.map((m) => m.ackId)).toEqual([
      { generation: 0, id: 1 },
      { generation: 0, id: 2 },
    ]);
    expect(buffer.size).toBe(1);
    expect(texts(await buffer.take(10, 1000, never))).toEqual(["c"]);
    expect(buffer.size).toBe(0);
  });

  it("buffers a message the driver built with ackIdFor as it is, and its id goes stale on disconnect", async () => {
    const buffer = new DeliveryBuffer<number>();
    const built = { ...message("own"), ackId: buffer.ackIdFor(7) };
    buffer.add(built);
    const [taken] = await buffer.take(1, 1000, never);
    expect(taken).toBe(built);
    expect(taken?.ackId).toEqual({ generation: 0, id: 7 });
    expect(buffer.holds(taken?.ackId)).toBe(true);
    buffer.disconnected();
    expect(buffer.holds(taken?.ackId)).toBe(false);
    expect(buffer.claim([taken?.ackId])).toEqual([]);
    expect(buffer.ackIdFor(8)).toEqual({ generation: 1, id: 8 });
  });

  it("waits for a delivery at most waitMs, and wakes at once for a push", async () => {
    const buffer = new DeliveryBuffer<number>();
    let started = Date.now();
    expect(await buffer.take(5, 60, never)).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(55);
    started = Date.now();
    const waiting = buffer.take(5, 5000, never);
    setTimeout(() => buffer.push(message("x"), 9), 10);
    expect(texts(await waiting)).toEqual(["x"]);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("drops what is buffered on disconnect and claims only the current connection's ids, each once", async () => {
    const buffer = new DeliveryBuffer<number>();
    const notices: DriverNotice[] = [];
    buffer.notices.onNotice((n) => notices.push(n));
    buffer.push(message("old-taken"), 1);
    buffer.push(message("old-buffered"), 2);
    const [old] = await buffer.take(1, 1000, never);
    buffer.disconnected();
    expect(buffer.generation).toBe(1);
    expect(buffer.size).toBe(0);
    expect(buffer.holds(old?.ackId)).toBe(false);
    buffer.push(message("new"), 1);
    const [fresh] = await buffer.take(1, 1000, never);
    expect(buffer.holds(fresh?.ackId)).toBe(true);
    expect(buffer.claim([old?.ackId, fresh?.ackId, fresh?.ackId])).toEqual([1]);
    expect(buffer.holds(fresh?.ackId)).toBe(false);
    expect(buffer.claim([fresh?.ackId])).toEqual([]);
    expect(notices).toEqual([
      {
        level: "info",
        event: "pubsub.stale_acks_dropped",
        message: "1 acks or nacks dropped: their connection closed, and the broker delivers those messages again",
        fields: { count: 1 },
      },
    ]);
  });

  it("names what the ids belong to in its notice", () => {
    const buffer = new DeliveryBuffer<number>({ carrier: "channel" });
    const notices: string[] = [];
    buffer.notices.onNotice((n) => notices.push(n.message));
    buffer.disconnected();
    expect(buffer.claim([{ generation: 0, id: 1 }])).toEqual([]);
    expect(notices).toEqual([
      "1 acks or nacks dropped: their channel closed, and the broker delivers those messages again",
    ]);
  });

  it("hands back what it holds when drained, and ends a waiting take", async () => {
    const buffer = new DeliveryBuffer<string>();
    buffer.push(message("a"), "t1");
    buffer.push(message("b"), "t2");
    expect(texts(buffer.drain())).toEqual(["a", "b"]);
    expect(buffer.size).toBe(0);
    const started = Date.now();
    const waiting = buffer.take(1, 5000, never);
    buffer.wake();
    expect(await waiting).toEqual([]);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

import type { Consumer, JsMsg } from "@nats-io/jetstream";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Receiver } from "../src/receiver.js";

/** A message that records when it got working(). */
interface FakeMsg {
  name: string;
  worked: number[];
  working(): void;
}

function fakeMsg(name: string): FakeMsg {
  const msg: FakeMsg = {
    name,
    worked: [],
    working: () => msg.worked.push(Date.now()),
  };
  return msg;
}

/** A consumer whose pulls the test fills and ends by hand. */
function fakeConsumer() {
  const pulls: { deliver(m: FakeMsg): void; end(): void }[] = [];
  const consumer = {
    fetch: async (options: { callback: (m: JsMsg) => void }) => {
      let end: () => void = () => {};
      const closed = new Promise<null>((resolve) => {
        end = () => resolve(null);
      });
      pulls.push({ deliver: (m) => options.callback(m as unknown as JsMsg), end });
      return { closed: () => closed };
    },
  };
  return { consumer: consumer as unknown as Consumer, pulls };
}

/** Takes one buffered message (there must be one). */
async function takeOne(receiver: Receiver): Promise<FakeMsg> {
  const [m] = await receiver.take(1, 0, new AbortController().signal);
  if (!m) throw new Error("nothing buffered");
  return m as unknown as FakeMsg;
}

describe("nats receive buffer leases", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("gives buffered messages working() every half ack wait, and hands them over with at most a quarter ack wait gone", async () => {
    const { consumer, pulls } = fakeConsumer();
    const receiver = new Receiver(consumer, 10, 1000);
    await vi.advanceTimersByTimeAsync(0);
    const pull = pulls[0];
    if (!pull) throw new Error("no pull");
    const [a, b, c] = [fakeMsg("a"), fakeMsg("b"), fakeMsg("c")];
    await vi.advanceTimersByTimeAsync(1);
    pull.deliver(a);
    await vi.advanceTimersByTimeAsync(299);
    pull.deliver(b);
    // Both get working() half an ack wait after a arrived.
    await vi.advanceTimersByTimeAsync(440);
    expect(await takeOne(receiver)).toBe(a);
    await vi.advanceTimersByTimeAsync(60);
    expect(await takeOne(receiver)).toBe(b);
    // a left 239 ms after its working(): the portable layer's first extension comes in time. b left 299 ms
    // after it: it got another on the way out.
    expect(a.worked).toEqual([501]);
    expect(b.worked).toEqual([501, 800]);

    // One that stays gets working() every half ack wait, from when it arrived.
    await vi.advanceTimersByTimeAsync(300);
    pull.deliver(c);
    await vi.advanceTimersByTimeAsync(1500);
    expect(await takeOne(receiver)).toBe(c);
    expect(c.worked).toEqual([1600, 2100, 2600]);

    pull.end();
    const stopped = receiver.stop();
    await vi.advanceTimersByTimeAsync(0);
    expect(await stopped).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("keeps a working() that throws (a closed connection) inside the buffer's timer", async () => {
    const { consumer, pulls } = fakeConsumer();
    const receiver = new Receiver(consumer, 10, 1000);
    await vi.advanceTimersByTimeAsync(0);
    const closed = fakeMsg("closed");
    closed.working = () => {
      throw new Error("closed connection");
    };
    pulls[0]?.deliver(closed);
    await vi.advanceTimersByTimeAsync(1000);
    pulls[0]?.end();
    const stopped = receiver.stop();
    await vi.advanceTimersByTimeAsync(0);
    expect(await stopped).toEqual([closed]);
  });
});

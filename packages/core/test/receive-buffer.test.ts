import { PubSubError } from "@portable-pubsub/core";
import type { DriverMessage } from "@portable-pubsub/core/driver";
import { describe, expect, it } from "vitest";
import type { Message } from "../src/message.js";
import { ReceiveBuffer } from "../src/receive-buffer.js";
import { ReceiveSizer } from "../src/receive-sizer.js";

/** A buffer over a driver that always has messages, numbered from 0, each batch as large as asked. */
function endlessBuffer() {
  let next = 0;
  const fetched: number[] = [];
  const buffer = new ReceiveBuffer(
    {
      fetch: async (max) => {
        fetched.push(max);
        return Array.from({ length: max }, () => ({ body: new Uint8Array(0), metadata: {}, ackId: next++ }));
      },
      admit: (arrived) => arrived,
      toMessage: (message) => message as unknown as Message,
      returnUnhanded: () => {},
      closed: () => false,
      wrapFatal: (err) => new PubSubError("Internal", String(err)),
    },
    new ReceiveSizer(1000),
  );
  return { buffer, fetched };
}

describe("ReceiveBuffer", () => {
  it("hands out every message once, in order, while a consumer keeps up with the fetches ahead", async () => {
    // Fetches ahead land in a queue that never empties here: the queue drops its taken head as it goes
    // (benchmarks/memory.mjs measures what that saves), and must lose or reorder nothing doing so.
    const { buffer, fetched } = endlessBuffer();
    const ids: number[] = [];
    while (ids.length < 50_000) {
      const message = (buffer.take() ?? (await buffer.wait(undefined))) as unknown as DriverMessage;
      ids.push(message.ackId as number);
    }
    expect(ids).toEqual(Array.from({ length: 50_000 }, (_, i) => i));
    // Batches grew to the maximum: the queue held up to 1,000 and more at once, and was compacted meanwhile.
    expect(Math.max(...fetched)).toBe(1000);
    await buffer.fetched(); // the fetch ahead in flight lands in the queue too
    const left = buffer.close(() => new Error("closed")) as DriverMessage[];
    const fetchedTotal = fetched.reduce((a, b) => a + b, 0);
    expect(left.map((m) => m.ackId)).toEqual(Array.from({ length: left.length }, (_, i) => 50_000 + i));
    expect(50_000 + left.length).toBe(fetchedTotal);
  });
});

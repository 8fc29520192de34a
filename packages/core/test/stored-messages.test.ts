import { type DriverMessage, StoredMessages } from "@portable-pubsub/core/driver";
import { describe, expect, it } from "vitest";

const message = (n: number): DriverMessage => ({ body: new Uint8Array([n]), metadata: {} });

describe("StoredMessages", () => {
  it("gives a batch back as it is until an attempt recorded part of it", () => {
    const stored = new StoredMessages();
    const batch = [message(1), message(2), message(3)];
    expect(stored.unstored(batch)).toBe(batch);
    stored.record(batch, []);
    expect(stored.unstored(batch)).toBe(batch);
  });

  it("leaves out of a retry what earlier attempts stored, in order, and keeps each attempt's record", () => {
    const stored = new StoredMessages();
    const batch = [message(1), message(2), message(3), message(4)];
    stored.record(batch, [batch[0] as DriverMessage]);
    expect(stored.unstored(batch)).toEqual([batch[1], batch[2], batch[3]]);
    stored.record(batch, [batch[2] as DriverMessage]);
    expect(stored.unstored(batch)).toEqual([batch[1], batch[3]]);
    stored.record(batch, [batch[1] as DriverMessage, batch[3] as DriverMessage]);
    expect(stored.unstored(batch)).toEqual([]);
  });

  it("keeps batches apart, even with the same messages in another array", () => {
    const stored = new StoredMessages();
    const a = [message(1), message(2)];
    const b = [...a];
    stored.record(a, [a[0] as DriverMessage]);
    expect(stored.unstored(a)).toEqual([a[1]]);
    expect(stored.unstored(b)).toBe(b);
  });
});

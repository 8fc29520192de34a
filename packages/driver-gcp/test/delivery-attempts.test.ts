import { describe, expect, it } from "vitest";
import { DEFAULT_COUNTED_MESSAGES, DeliveryAttempts } from "../src/delivery-attempts.js";

describe("DeliveryAttempts: the in-process count for subscriptions without a dead-letter policy", () => {
  it("counts 1 on first delivery and one more per delivery of the same message id", () => {
    const attempts = new DeliveryAttempts();
    expect(attempts.delivered("m1", "a1")).toBe(1);
    expect(attempts.delivered("m2", "a2")).toBe(1);
    attempts.returned(["a1"]);
    expect(attempts.delivered("m1", "a3")).toBe(2);
    expect(attempts.delivered("m1", "a4")).toBe(3);
    expect(attempts.size).toBe(2);
  });

  it("forgets a message once acked under any of its ackIds; unknown and returned ackIds change nothing", () => {
    const attempts = new DeliveryAttempts();
    attempts.delivered("m1", "a1");
    attempts.delivered("m2", "a2");
    attempts.returned(["a2"]);
    attempts.acked(["unknown", "a2"]);
    expect(attempts.size).toBe(2);
    expect(attempts.delivered("m2", "a3")).toBe(2);
    // A late ack of an earlier delivery (its lease ran out, and it came again meanwhile) counts too.
    expect(attempts.delivered("m1", "a4")).toBe(2);
    attempts.acked(["a1"]);
    expect(attempts.size).toBe(1);
    expect(attempts.delivered("m1", "a5")).toBe(1);
    attempts.acked(["a3", "a5"]);
    expect(attempts.size).toBe(0);
  });

  it("evicts the least recently delivered id beyond its capacity", () => {
    const attempts = new DeliveryAttempts(3);
    attempts.delivered("m1", "a1");
    attempts.delivered("m2", "a2");
    attempts.delivered("m3", "a3");
    expect(attempts.delivered("m1", "a4")).toBe(2); // m1 is now the most recent, m2 the oldest
    expect(attempts.delivered("m4", "a5")).toBe(1);
    expect(attempts.size).toBe(3);
    expect(attempts.delivered("m2", "a6")).toBe(1); // evicted: counted from 1 again, which evicts m3
    expect(attempts.delivered("m1", "a7")).toBe(3);
    expect(attempts.delivered("m3", "a8")).toBe(1);
    expect(attempts.size).toBe(3);
  });

  it("holds at most 10,000 ids by default", () => {
    const attempts = new DeliveryAttempts();
    expect(DEFAULT_COUNTED_MESSAGES).toBe(10_000);
    for (let i = 0; i <= 10_000; i++) attempts.delivered(`m${i}`, `a${i}`);
    expect(attempts.size).toBe(10_000);
    expect(attempts.delivered("m10000", "b")).toBe(2);
    expect(attempts.delivered("m0", "c")).toBe(1);
    expect(attempts.size).toBe(10_000);
  });

  it("refuses a capacity that is not a positive integer", () => {
    expect(() => new DeliveryAttempts(0)).toThrow(RangeError);
    expect(() => new DeliveryAttempts(1.5)).toThrow(RangeError);
  });
});

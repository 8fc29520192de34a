import { describe, expect, it } from "vitest";
import { decodeBody, encodeBody, HEADER_BYTES, newRunId } from "../src/bench/payload.js";
import { Tally } from "../src/bench/tally.js";
import { formatMs, quantile } from "../src/format.js";

describe("bench payload", () => {
  it("round-trips the sequence number and detects changed bytes and other runs", () => {
    const run = newRunId();
    const body = encodeBody(run, 123_456, 64);
    expect(body.byteLength).toBe(64);
    expect(decodeBody(run, body)).toEqual({ kind: "ours", seq: 123_456, intact: true });
    const changed = body.slice();
    changed[40] = (changed[40] as number) ^ 1;
    expect(decodeBody(run, changed)).toEqual({ kind: "ours", seq: 123_456, intact: false });
    expect(decodeBody(newRunId(), body)).toEqual({ kind: "foreign" });
    expect(decodeBody(run, new TextEncoder().encode("not a bench message"))).toEqual({ kind: "foreign" });
    expect(decodeBody(run, body.subarray(0, HEADER_BYTES - 1))).toEqual({ kind: "foreign" });
  });
});

describe("bench tally", () => {
  it("counts duplicates, losses, corrupt and foreign messages exactly", () => {
    const tally = new Tally(10);
    for (let seq = 0; seq < 10; seq++) if (seq !== 7) tally.confirmed(seq);
    tally.failed(); // seq 7: its send failed, so it is not expected
    for (const seq of [0, 1, 2, 2, 3, 5, 5, 5, 9]) tally.received(seq, true);
    tally.received(6, false);
    tally.received(42, true);
    tally.foreign();
    expect(tally.summary()).toEqual({
      sent: 9,
      failedSends: 1,
      received: 7,
      duplicates: 3,
      lost: 2, // 4 and 8
      corrupt: 2, // 6 changed, 42 impossible
      foreign: 1,
    });
    expect(tally.complete).toBe(false);
    tally.received(4, true);
    tally.received(8, true);
    expect(tally.complete).toBe(true);
  });
});

describe("quantile", () => {
  it("is nearest-rank", () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(quantile(values, 0.5)).toBe(50);
    expect(quantile(values, 0.99)).toBe(99);
    expect(quantile([], 0.5)).toBe(0);
  });
});

describe("formatMs", () => {
  it("picks a unit that keeps the figure short", () => {
    expect([0.038, 0.42, 12.34, 1250].map(formatMs)).toEqual(["38 µs", "0.42 ms", "12.3 ms", "1.25 s"]);
  });
});

import { describe, expect, it } from "vitest";
import { backoffDelay, retryOptions, withRetry } from "../src/driver/retry.js";
import { ErrorCode, errorCode } from "../src/errors.js";

const options = { initialDelayMs: 1, maxDelayMs: 4, maxAttempts: Number.POSITIVE_INFINITY };
const retryable = (e: unknown) => (e as Error).message === "again";

describe("withRetry", () => {
  it("retries retryable errors until the attempt succeeds", async () => {
    let calls = 0;
    const result = await withRetry(
      async () => {
        if (++calls < 4) throw new Error("again");
        return "done";
      },
      retryable,
      options,
      new AbortController().signal,
      "op",
    );
    expect([result, calls]).toEqual(["done", 4]);
  });

  it("stops at the first error that is not retryable", async () => {
    let calls = 0;
    const error = await withRetry(
      async () => {
        calls++;
        throw new Error("fatal");
      },
      retryable,
      options,
      new AbortController().signal,
      "op",
    ).catch((e: unknown) => e);
    expect([(error as Error).message, calls]).toEqual(["fatal", 1]);
  });

  it("stops after maxAttempts with the last error", async () => {
    let calls = 0;
    const error = await withRetry(
      async () => {
        calls++;
        throw new Error("again");
      },
      retryable,
      { ...options, maxAttempts: 3 },
      new AbortController().signal,
      "op",
    ).catch((e: unknown) => e);
    expect([(error as Error).message, calls]).toEqual(["again", 3]);
  });

  it("ends with Canceled when the signal fires during a backoff, and keeps every wait under the cap", async () => {
    const controller = new AbortController();
    const gaps: number[] = [];
    let last = performance.now();
    const error = await withRetry(
      async () => {
        const now = performance.now();
        gaps.push(now - last);
        last = now;
        if (gaps.length === 6) controller.abort();
        throw new Error("again");
      },
      retryable,
      { initialDelayMs: 2, maxDelayMs: 8, maxAttempts: Number.POSITIVE_INFINITY },
      controller.signal,
      "send",
    ).catch((e: unknown) => e);
    expect(errorCode(error)).toBe(ErrorCode.Canceled);
    expect(gaps.length).toBe(6);
    // Full jitter never waits longer than the cap (plus timer slack).
    for (const gap of gaps.slice(1)) expect(gap).toBeLessThan(8 + 30);
  });
});

describe("backoffDelay", () => {
  it("stays within [0, min(max, initial·2^attempt)]", () => {
    const ceilings = [10, 20, 40, 80, 100, 100];
    for (let attempt = 0; attempt < ceilings.length; attempt++) {
      for (let i = 0; i < 200; i++) {
        const delay = backoffDelay(attempt, 10, 100);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThan(ceilings[attempt] as number);
      }
    }
    expect(backoffDelay(1000, 10, 100)).toBeLessThan(100);
  });

  it("keeps a default for a retry option given as undefined (a spread over the defaults would make it NaN)", () => {
    expect(retryOptions({ initialDelayMs: undefined, maxDelayMs: undefined, maxAttempts: undefined })).toEqual({
      initialDelayMs: 100,
      maxDelayMs: 5000,
      maxAttempts: Number.POSITIVE_INFINITY,
    });
    expect(retryOptions({ initialDelayMs: 7 })).toEqual({ initialDelayMs: 7, maxDelayMs: 5000, maxAttempts: Infinity });
    expect(Number.isNaN(backoffDelay(0, retryOptions({ initialDelayMs: undefined }).initialDelayMs, 5000))).toBe(false);
  });
});

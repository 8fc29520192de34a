import { describe, expect, it } from "vitest";
import { Batcher } from "../src/driver/batcher.js";
import { ErrorCode, errorCode } from "../src/errors.js";

const options = { maxItems: 3, maxBytes: Number.POSITIVE_INFINITY, maxConcurrency: 1, lingerMs: 0 };

describe("Batcher", () => {
  it("sends the first item at once and groups the rest of the tick, up to maxItems", async () => {
    const batches: number[][] = [];
    const batcher = new Batcher<number>(async (items) => {
      batches.push(items);
    }, options);
    await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((n) => batcher.add(n)));
    expect(batches).toEqual([[1], [2, 3, 4], [5, 6, 7], [8]]);
  });

  it("hands a lone item to the handler synchronously when nothing is in flight", () => {
    const batches: number[][] = [];
    const batcher = new Batcher<number>(async (items) => {
      batches.push(items);
    }, options);
    void batcher.add(1);
    expect(batches).toEqual([[1]]);
  });

  it("sends a lone item at once when idle", async () => {
    const batches: number[][] = [];
    const batcher = new Batcher<number>(async (items) => {
      batches.push(items);
    }, options);
    await batcher.add(1);
    await batcher.add(2);
    expect(batches).toEqual([[1], [2]]);
  });

  it("splits by bytes, but sends an oversized item alone", async () => {
    const batches: string[][] = [];
    const batcher = new Batcher<string>(
      async (items) => {
        batches.push(items);
      },
      { ...options, maxItems: 100, maxBytes: 5 },
      (s) => s.length,
    );
    await Promise.all(["first", "aa", "bb", "cc", "dddddddd", "e"].map((s) => batcher.add(s)));
    expect(batches).toEqual([["first"], ["aa", "bb"], ["cc"], ["dddddddd"], ["e"]]);
  });

  it("never runs more than maxConcurrency batches, and grows batches while busy", async () => {
    let running = 0;
    let peak = 0;
    const sizes: number[] = [];
    const batcher = new Batcher<number>(
      async (items) => {
        running++;
        peak = Math.max(peak, running);
        sizes.push(items.length);
        await new Promise((r) => setTimeout(r, 5));
        running--;
      },
      { maxItems: 50, maxBytes: Number.POSITIVE_INFINITY, maxConcurrency: 2, lingerMs: 0 },
    );
    const pending: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      pending.push(batcher.add(i));
      if (i % 10 === 0) await Promise.resolve();
    }
    await Promise.all(pending);
    expect(peak).toBe(2);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(200);
    expect(Math.max(...sizes)).toBe(50);
  });

  it("waits out the linger to fill a batch, but not when the batch is full", async () => {
    const batches: number[][] = [];
    const batcher = new Batcher<number>(
      async (items) => {
        batches.push(items);
      },
      { maxItems: 4, maxBytes: Number.POSITIVE_INFINITY, maxConcurrency: 1, lingerMs: 30 },
    );
    const first = batcher.add(1);
    await new Promise((r) => setTimeout(r, 10));
    const second = batcher.add(2);
    await Promise.all([first, second]);
    expect(batches).toEqual([[1, 2]]);
    const started = performance.now();
    await Promise.all([3, 4, 5, 6].map((n) => batcher.add(n)));
    expect(batches[1]).toEqual([3, 4, 5, 6]);
    expect(performance.now() - started).toBeLessThan(25);
  });

  it("rejects every item of a failed batch with the handler's error, and reports no-wait items", async () => {
    const reported: unknown[] = [];
    const batcher = new Batcher<number>(
      async () => {
        throw new Error("broker said no");
      },
      options,
      undefined,
      (err) => reported.push(err),
    );
    const results = await Promise.allSettled([batcher.add(1), batcher.add(2)]);
    expect(results.map((r) => (r.status === "rejected" ? (r.reason as Error).message : "ok"))).toEqual([
      "broker said no",
      "broker said no",
    ]);
    batcher.addNoWait(3);
    batcher.addNoWait(4);
    batcher.addNoWait(5);
    await batcher.flush();
    // No-wait items gather until the end of the turn: [3, 4, 5] went together, one failed batch, one report.
    expect(reported.length).toBe(1);
  });

  it("drops an item whose signal fired before its batch left, with Canceled", async () => {
    const batches: number[][] = [];
    const batcher = new Batcher<number>(async (items) => {
      batches.push(items);
    }, options);
    const controller = new AbortController();
    const first = batcher.add(0);
    const canceled = batcher.add(1, controller.signal);
    controller.abort();
    const kept = batcher.add(2);
    expect(errorCode(await canceled.catch((e: unknown) => e))).toBe(ErrorCode.Canceled);
    await Promise.all([first, kept]);
    expect(batches).toEqual([[0], [2]]);
  });

  it("drops canceled items from batches cut part by part, whichever batch they fall in", async () => {
    const batches: number[][] = [];
    const batcher = new Batcher<number>(async (items) => {
      batches.push(items);
    }, options);
    const controllers = [new AbortController(), new AbortController(), new AbortController()];
    const sends = Array.from({ length: 9 }, (_, i) =>
      batcher.add(i, i === 2 || i === 5 || i === 7 ? controllers[[2, 5, 7].indexOf(i)]?.signal : undefined),
    );
    // 0 goes alone; 1-8 are cut three at a time, while 5's signal still waits to fire.
    controllers[0]?.abort();
    controllers[2]?.abort();
    const results = await Promise.allSettled(sends);
    expect(results.map((r) => (r.status === "fulfilled" ? "sent" : errorCode(r.reason)))).toEqual([
      "sent",
      "sent",
      ErrorCode.Canceled,
      "sent",
      "sent",
      "sent",
      "sent",
      ErrorCode.Canceled,
      "sent",
    ]);
    expect(batches).toEqual([[0], [1, 3], [4, 5, 6], [8]]);
    // Nothing signaled is pending any more: the next batch is cut as it is.
    await batcher.add(9);
    expect(batches.at(-1)).toEqual([9]);
  });

  it("flush waits for running batches; failPending rejects the rest", async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const batcher = new Batcher<number>(() => gate, { ...options, maxItems: 1 });
    const first = batcher.add(1);
    const second = batcher.add(2);
    await Promise.resolve();
    batcher.failPending(new Error("shutting down"));
    expect(((await second.catch((e: unknown) => e)) as Error).message).toBe("shutting down");
    let flushed = false;
    const flush = batcher.flush().then(() => {
      flushed = true;
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(flushed).toBe(false);
    release();
    await Promise.all([first, flush]);
    expect(flushed).toBe(true);
  });
});

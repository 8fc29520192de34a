/**
 * The kit's WakeUp: a wait ends on a wake-up, at its own deadline (not a
 * later one's, not an earlier one's), or when its signal fires; it keeps
 * the process alive while someone waits and not after; and a long-lived
 * signal carries one listener however many waits it saw.
 */
import { getEventListeners } from "node:events";
import { WakeUp } from "@portable-pubsub/core/driver";
import { describe, expect, it } from "vitest";

/** How many ms after `start` the promise settled. */
async function settledAfter(p: Promise<void>, start: number): Promise<number> {
  await p;
  return performance.now() - start;
}

/** Timers that keep the process alive: the active Timeout resources counted by Node. */
function activeTimeouts(): number {
  return process.getActiveResourcesInfo().filter((name) => name === "Timeout").length;
}

describe("WakeUp", () => {
  it("ends every current wait on wakeAll, and not later ones", async () => {
    const wake = new WakeUp();
    const signal = new AbortController().signal;
    const settled: number[] = [];
    const a = wake.wait(60_000, signal).then(() => settled.push(1));
    const b = wake.wait(60_000, signal).then(() => settled.push(2));
    wake.wakeAll();
    await Promise.all([a, b]);
    expect(settled).toEqual([1, 2]);
    let later = false;
    const c = wake.wait(30, signal).then(() => {
      later = true;
    });
    await new Promise((r) => setTimeout(r, 5));
    expect(later).toBe(false);
    await c;
    expect(later).toBe(true);
  });

  it("ends each wait at its own deadline, a short one armed after a long one included", async () => {
    const wake = new WakeUp();
    const signal = new AbortController().signal;
    const start = performance.now();
    const long = settledAfter(wake.wait(300, signal), start);
    const short = settledAfter(wake.wait(40, signal), start);
    const shortMs = await short;
    expect(shortMs).toBeGreaterThanOrEqual(39);
    expect(shortMs).toBeLessThan(250);
    const longMs = await long;
    expect(longMs).toBeGreaterThanOrEqual(299);
  });

  it("ends a wait at its deadline when the timer was armed for an earlier one that was woken", async () => {
    const wake = new WakeUp();
    const signal = new AbortController().signal;
    const first = wake.wait(20, signal);
    wake.wakeAll();
    await first;
    // The timer armed for the first wait still fires at ~20 ms, for nobody: the second must last its 120 ms.
    const start = performance.now();
    const ms = await settledAfter(wake.wait(120, signal), start);
    expect(ms).toBeGreaterThanOrEqual(119);
    expect(ms).toBeLessThan(1_000);
  });

  it("ends the waits of a signal when it fires, and only those", async () => {
    const wake = new WakeUp();
    const one = new AbortController();
    const other = new AbortController();
    let otherEnded = false;
    const a = wake.wait(60_000, one.signal);
    const b = wake.wait(60_000, other.signal).then(() => {
      otherEnded = true;
    });
    one.abort();
    await a;
    await new Promise((r) => setTimeout(r, 5));
    expect(otherEnded).toBe(false);
    wake.wakeAll();
    await b;
    // An aborted signal ends a wait at once.
    await wake.wait(60_000, one.signal);
  });

  it("keeps the process alive while someone waits, and not after everyone was woken", async () => {
    const wake = new WakeUp();
    const signal = new AbortController().signal;
    const before = activeTimeouts();
    const waiting = wake.wait(60_000, signal);
    expect(activeTimeouts()).toBe(before + 1);
    wake.wakeAll();
    await waiting;
    expect(activeTimeouts()).toBe(before);
    // Waiting again on the timer left armed makes it keep the process alive again.
    const again = wake.wait(60_000, signal);
    expect(activeTimeouts()).toBe(before + 1);
    wake.wakeAll();
    await again;
    expect(activeTimeouts()).toBe(before);
  });

  it("waits a duration past Node's longest timer until woken, without a warning", async () => {
    const wake = new WakeUp();
    const signal = new AbortController().signal;
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on("warning", onWarning);
    try {
      let ended = false;
      const waiting = wake.wait(Number.POSITIVE_INFINITY, signal).then(() => {
        ended = true;
      });
      await new Promise((r) => setTimeout(r, 20));
      expect(ended).toBe(false);
      wake.wakeAll();
      await waiting;
      await new Promise((r) => setImmediate(r));
      expect(warnings.map((w) => w.name)).toEqual([]);
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("puts one abort listener on a signal however many waits it saw", async () => {
    const wake = new WakeUp();
    const signal = new AbortController().signal;
    for (let i = 0; i < 1000; i++) {
      const waiting = wake.wait(60_000, signal);
      wake.wakeAll();
      await waiting;
    }
    expect(getEventListeners(signal, "abort").length).toBeLessThanOrEqual(1);
  });
});

import { Subscription } from "@portable-pubsub/core";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ScriptedSubscriptionDriver } from "./fake-driver.js";

/** A scripted driver that cannot nack but is told of failed messages, recording each `releaseFailed` call. */
class ReleasingDriver extends ScriptedSubscriptionDriver {
  override readonly canNack = false as never;
  readonly released: unknown[][] = [];
  async releaseFailed(ids: unknown[]): Promise<void> {
    this.released.push([...ids]);
  }
}

const until = async (condition: () => boolean, ms = 2000) => {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
};

describe("releaseFailed: failed messages on a driver that cannot nack", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("releases a failed message once its redelivery delay passed, and never acks or nacks it", async () => {
    const driver = new ReleasingDriver();
    driver.push("bad", "good");
    const sub = new Subscription(driver, { redelivery: { initialDelayMs: 1, maxDelayMs: 1 } });
    const handled: string[] = [];
    const processing = sub.process((m) => {
      handled.push(m.text());
      if (m.text() === "bad") throw new Error("poison");
    });
    await until(() => driver.released.length > 0 && driver.acked.length > 0);
    await sub.shutdown();
    await processing;
    expect(handled.sort()).toEqual(["bad", "good"]);
    expect(driver.released).toEqual([[1]]);
    expect(driver.acked).toEqual([2]);
    expect(driver.nacked).toEqual([]);
  });

  it("holds a failed message for its delay, and releases it at once at shutdown", async () => {
    // Full jitter draws the delay at random: fixed here at 59.4 s.
    vi.spyOn(Math, "random").mockReturnValue(0.99);
    const driver = new ReleasingDriver();
    driver.push("bad");
    const sub = new Subscription(driver, { redelivery: { initialDelayMs: 60_000, maxDelayMs: 60_000 } });
    let failed = false;
    const processing = sub.process(() => {
      failed = true;
      throw new Error("poison");
    });
    await until(() => failed);
    await new Promise((r) => setTimeout(r, 300));
    expect(driver.released).toEqual([]);
    const started = Date.now();
    await sub.shutdown();
    await processing;
    expect(Date.now() - started).toBeLessThan(2000);
    expect(driver.released).toEqual([[1]]);
    expect(driver.acked).toEqual([]);
    expect(driver.nacked).toEqual([]);
  });

  it("leaves a failed message alone on a driver that cannot nack and has no releaseFailed", async () => {
    const driver = new ScriptedSubscriptionDriver();
    Object.assign(driver, { canNack: false });
    driver.push("bad");
    const sub = new Subscription(driver, { redelivery: { initialDelayMs: 1, maxDelayMs: 1 } });
    let failed = false;
    const processing = sub.process(() => {
      failed = true;
      throw new Error("poison");
    });
    await until(() => failed);
    await new Promise((r) => setTimeout(r, 50));
    await sub.shutdown();
    await processing;
    expect(driver.acked).toEqual([]);
    expect(driver.nacked).toEqual([]);
  });
});

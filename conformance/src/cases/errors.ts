import { ErrorCode, errorCode, Subscription, Topic, type TopicDriver } from "@portable-pubsub/core/driver";
import { expect, it } from "vitest";
import type { SuiteContext } from "../context.js";

/** Errors, cancellation and shutdown. */
export function errorCases(ctx: SuiteContext): void {
  it("fails sends to a missing topic with NotFound", async ({ skip }) => {
    const { harness } = ctx;
    if (!harness.makeNonexistentTopic) skip(`${ctx.caps.name} has no missing topics (no makeNonexistentTopic)`);
    const topic = new Topic(await (harness.makeNonexistentTopic as () => Promise<TopicDriver>)(), {
      retry: { maxAttempts: 3 },
    });
    ctx.defer(() => topic.shutdown({ signal: AbortSignal.timeout(5000) }));
    const error = await topic.send({ body: "nowhere" }).catch((e: unknown) => e);
    expect(errorCode(error)).toBe(ErrorCode.NotFound);
  });

  it("fails receives from a missing subscription with NotFound", async () => {
    const subscription = new Subscription(await ctx.harness.makeNonexistentSubscription(), {
      retry: { maxAttempts: 3 },
    });
    ctx.defer(() => subscription.shutdown({ signal: AbortSignal.timeout(5000) }));
    const error = await subscription
      .receive({ signal: AbortSignal.timeout(ctx.receiveTimeoutMs) })
      .catch((e: unknown) => e);
    expect(errorCode(error)).toBe(ErrorCode.NotFound);
  });

  it("fails every call after shutdown with FailedPrecondition", async () => {
    const { topic, subscription } = await ctx.pair("after-shutdown");
    await topic.send({ body: "before" });
    await ctx.receiveN(subscription, 1);
    await topic.shutdown();
    await subscription.shutdown();
    expect(errorCode(await topic.send({ body: "after" }).catch((e: unknown) => e))).toBe(ErrorCode.FailedPrecondition);
    expect(errorCode(await subscription.receive().catch((e: unknown) => e))).toBe(ErrorCode.FailedPrecondition);
    expect(errorCode(await subscription.process(() => {}).catch((e: unknown) => e))).toBe(ErrorCode.FailedPrecondition);
    await topic.shutdown();
    await subscription.shutdown();
    expect(topic.health.state).toBe("closed");
    expect(subscription.health.state).toBe("closed");
  });

  it("cancels a send whose signal has fired with Canceled", async () => {
    const { topic, subscription } = await ctx.pair("cancel-send");
    const controller = new AbortController();
    controller.abort();
    const error = await topic.send({ body: "never" }, { signal: controller.signal }).catch((e: unknown) => e);
    expect(errorCode(error)).toBe(ErrorCode.Canceled);
    expect(await ctx.nothingWithin(subscription, 300)).toBe(true);
  });

  it("cancels a waiting receive with Canceled, and receives afterwards", async () => {
    const { topic, subscription } = await ctx.pair("cancel-receive");
    const controller = new AbortController();
    const waiting = subscription.receive({ signal: controller.signal }).catch((e: unknown) => e);
    setTimeout(() => controller.abort(), 50);
    expect(errorCode(await waiting)).toBe(ErrorCode.Canceled);
    expect(errorCode(await subscription.receive({ signal: AbortSignal.timeout(50) }).catch((e: unknown) => e))).toBe(
      ErrorCode.DeadlineExceeded,
    );
    await topic.send({ body: "after-cancel" });
    const [message] = await ctx.receiveN(subscription, 1);
    expect(message?.text()).toBe("after-cancel");
  });

  it("stops process with Canceled when its signal fires", async () => {
    const { topic, subscription } = await ctx.pair("cancel-process");
    const controller = new AbortController();
    const handled: string[] = [];
    // The outcome is caught at once: processing may end before the send below resolves.
    const outcome = subscription
      .process(
        (m) => {
          handled.push(m.text());
          controller.abort();
        },
        { signal: controller.signal },
      )
      .catch((e: unknown) => e);
    await topic.send({ body: "one" });
    expect(errorCode(await outcome)).toBe(ErrorCode.Canceled);
    expect(handled).toEqual(["one"]);
  });

  it("rejects bad messages with InvalidArgument before the driver sees them", async () => {
    const { topic, subscription } = await ctx.pair("bad-input");
    const bad: unknown[] = [
      undefined,
      "just a string",
      { body: 123 },
      { body: { nested: true } },
      { body: "ok", metadata: { n: 1 } },
      { body: "ok", metadata: ["a"] },
      { body: "ok", metadata: { bad: "\uD800" } },
      { body: "ok", metadata: { "\uDC00": "bad key" } },
      { body: "\uD83D" },
    ];
    for (const message of bad) {
      const error = await topic.send(message as never).catch((e: unknown) => e);
      expect(errorCode(error), JSON.stringify(message)).toBe(ErrorCode.InvalidArgument);
      expect((error as Error).message).toMatch(/send: /);
    }
    expect(await ctx.nothingWithin(subscription, 300)).toBe(true);
    const error = await subscription.process(() => {}, { concurrency: 0 }).catch((e: unknown) => e);
    expect(errorCode(error)).toBe(ErrorCode.InvalidArgument);
  });

  it("shuts down while busy: sends settle, handlers finish, nothing is lost", async () => {
    const { topic, subscription, openedSubscription } = await ctx.pair("close-while-busy");
    const sent = Array.from({ length: 50 }, (_, i) => `busy-${i}`);
    const sends = sent.map((body) => topic.send({ body }));
    await topic.shutdown();
    const outcomes = await Promise.allSettled(sends);
    expect(outcomes.filter((o) => o.status === "fulfilled").length).toBe(50);
    const handled = new Set<string>();
    let running = 0;
    const processing = subscription.process(
      async (m) => {
        running++;
        await new Promise((r) => setTimeout(r, 20));
        handled.add(m.text());
        running--;
        if (handled.size === 10) void subscription.shutdown();
      },
      { concurrency: 5 },
    );
    await processing;
    await subscription.shutdown();
    expect(running).toBe(0);
    expect(handled.size).toBeGreaterThanOrEqual(10);
    // The rest is checked where a consumer can be opened after this one closed.
    if (!openedSubscription.created.openConsumer) return;
    const rest = await ctx.openConsumer(openedSubscription);
    const seen = new Set(handled);
    while (seen.size < 50) {
      const m = await rest.receive({ signal: AbortSignal.timeout(ctx.receiveTimeoutMs) });
      seen.add(m.text());
      m.ack();
    }
    expect([...seen].sort()).toEqual([...sent].sort());
  });

  it("shuts down many subscriptions at once (ConcurrentClose)", async () => {
    const opened = await ctx.openTopic("concurrent-close");
    const subs = await Promise.all(
      Array.from({ length: 5 }, (_, i) => ctx.openSubscription(opened, `concurrent-close-${i}`)),
    );
    const receiving = subs.map((s) => s.subscription.receive().catch((e: unknown) => e));
    await Promise.all(subs.map((s) => s.subscription.shutdown()));
    for (const outcome of await Promise.all(receiving)) expect(errorCode(outcome)).toBe(ErrorCode.FailedPrecondition);
  });
}

import { ErrorCode, type PubSubError } from "@portable-pubsub/core/driver";
import { expect, it } from "vitest";
import { numbered, type SuiteContext } from "../context.js";

/** Acks, nacks and redelivery. */
export function ackCases(ctx: SuiteContext): void {
  it("redelivers a nacked message", async ({ skip }) => {
    if (!ctx.caps.canNack) skip(`${ctx.caps.name} cannot nack`);
    const { topic, subscription } = await ctx.pair("nack");
    await topic.send({ body: "again" });
    const [first] = await ctx.receiveN(subscription, 1, { ack: false });
    expect(first?.nackable).toBe(true);
    first?.nack();
    const [second] = await ctx.receiveN(subscription, 1);
    expect(second?.text()).toBe("again");
    expect(await ctx.nothingWithin(subscription, 300)).toBe(true);
  });

  it("throws Unimplemented on nack where the driver cannot nack", async ({ skip }) => {
    if (ctx.caps.canNack) skip(`${ctx.caps.name} can nack`);
    const { topic, subscription } = await ctx.pair("no-nack");
    await topic.send({ body: "x" });
    const [message] = await ctx.receiveN(subscription, 1);
    expect(message?.nackable).toBe(false);
    let error: unknown;
    try {
      message?.nack();
    } catch (err) {
      error = err;
    }
    expect((error as PubSubError).code).toBe(ErrorCode.Unimplemented);
  });

  it("treats a second ack or nack as a no-op", async () => {
    const { topic, subscription } = await ctx.pair("double-ack");
    await topic.send({ body: "once" });
    await topic.send({ body: "twice" });
    const [a, b] = await ctx.receiveN(subscription, 2, { ack: false });
    a?.ack();
    a?.ack();
    if (a?.nackable) a.nack();
    b?.ack();
    if (b?.nackable) b.nack();
    b?.ack();
    expect(await ctx.nothingWithin(subscription, 500)).toBe(true);
  });

  it("ignores an ack sent twice to the driver", async () => {
    const opened = await ctx.openTopic("driver-double-ack");
    const sub = await ctx.openSubscription(opened, "driver-double-ack");
    await opened.topic.send({ body: "x" });
    const signal = AbortSignal.timeout(ctx.receiveTimeoutMs);
    let got = await sub.created.driver.receiveBatch(1, signal);
    while (got.length === 0) got = await sub.created.driver.receiveBatch(1, signal);
    const ids = got.map((m) => m.ackId);
    await sub.created.driver.sendAcks(ids, signal);
    await sub.created.driver.sendAcks(ids, signal);
    expect(got.length).toBe(1);
  });

  it("redelivers a message that is not acked within the ack deadline", async ({ skip }) => {
    const deadline = ctx.caps.ackDeadlineMs;
    if (deadline === undefined) skip(`${ctx.caps.name} declares no ack deadline`);
    // Leases are extended while a message is held, up to maxExtensionMs: here, not at all.
    const { topic, subscription } = await ctx.pair("ack-deadline", undefined, { maxExtensionMs: 1 });
    await topic.send({ body: "late" });
    const started = Date.now();
    const [first] = await ctx.receiveN(subscription, 1, { ack: false });
    const [second] = await ctx.receiveN(subscription, 1, { timeoutMs: (deadline ?? 0) * 3 + ctx.receiveTimeoutMs });
    expect(first?.text()).toBe("late");
    expect(second?.text()).toBe("late");
    expect(Date.now() - started).toBeGreaterThanOrEqual((deadline ?? 0) * 0.9);
  });

  it("does not deliver an acked message again, even after the ack deadline", async ({ skip }) => {
    const deadline = ctx.caps.ackDeadlineMs;
    if (deadline === undefined) skip(`${ctx.caps.name} declares no ack deadline`);
    const { topic, subscription } = await ctx.pair("acked-stays-acked");
    await topic.send({ body: "done" });
    await ctx.receiveN(subscription, 1);
    expect(await ctx.nothingWithin(subscription, (deadline ?? 0) * 2 + 200)).toBe(true);
  });

  it("redelivers every message a handler failed on (ResendOnError)", async ({ skip }) => {
    if (!ctx.caps.canNack) skip(`${ctx.caps.name} cannot nack`);
    const { topic, subscription } = await ctx.pair("resend-on-error");
    const sent = numbered("r", 100);
    await Promise.all(sent.map((body) => topic.send({ body })));
    const seen = new Set<string>();
    let failures = 0;
    let handlerErrors = 0;
    const processing = subscription.process(
      (message) => {
        if (failures < 2) {
          failures++;
          throw new Error("handler failure on purpose");
        }
        seen.add(message.text());
        if (seen.size === 100) void subscription.shutdown();
      },
      { concurrency: 4, onHandlerError: () => handlerErrors++ },
    );
    await withTimeout(processing, ctx.receiveTimeoutMs * 2, "process");
    expect([...seen].sort()).toEqual(sent);
    expect(handlerErrors).toBe(2);
  });

  it("keeps going after handler errors (ContinueAfterErrors)", async ({ skip }) => {
    if (!ctx.caps.canNack) skip(`${ctx.caps.name} cannot nack`);
    const { topic, subscription } = await ctx.pair("continue-after-errors");
    const sent = numbered("c", 30);
    await Promise.all(sent.map((body) => topic.send({ body })));
    const attempts = new Map<string, number>();
    const done = new Set<string>();
    const processing = subscription.process(
      async (message) => {
        const body = message.text();
        const n = (attempts.get(body) ?? 0) + 1;
        attempts.set(body, n);
        if (n <= 2) throw new Error("fails twice per message");
        done.add(body);
        if (done.size === 30) void subscription.shutdown();
      },
      { concurrency: 3 },
    );
    await withTimeout(processing, ctx.receiveTimeoutMs * 3, "process");
    expect([...done].sort()).toEqual(sent);
    for (const body of sent) expect(attempts.get(body)).toBeGreaterThanOrEqual(3);
  });

  it("gives a new consumer what a closed one left (ContinueAfterSubscribeClose)", async ({ skip }) => {
    const { topic, subscription, openedSubscription } = await ctx.pair("continue-after-close");
    // It needs no competing consumers: only one opened after the first closed.
    if (!openedSubscription.created.openConsumer) skip(`${ctx.caps.name}'s harness has no openConsumer`);
    const sent = numbered("half", 40);
    for (const body of sent) await topic.send({ body });
    const first = await ctx.receiveN(subscription, 20);
    await subscription.shutdown();
    const second = await ctx.openConsumer(openedSubscription);
    const firstBodies = new Set(first.map((m) => m.text()));
    const rest: string[] = [];
    while (rest.length < 20) {
      const message = await second.receive({ signal: AbortSignal.timeout(ctx.receiveTimeoutMs) });
      message.ack();
      if (!firstBodies.has(message.text())) rest.push(message.text());
    }
    expect([...firstBodies, ...rest].sort()).toEqual(sent);
  });
}

/** Rejects if `promise` does not settle in `ms`, so that a broken driver fails a case instead of hanging it. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`conformance: ${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

import type { Subscription } from "@portable-pubsub/core/driver";
import { expect, it } from "vitest";
import { numbered, type SuiteContext } from "../context.js";
import { withTimeout } from "./acks.js";

/** Watermill's universal cases that need no restartable broker. */
export function concurrencyCases(ctx: SuiteContext): void {
  it("handles concurrent publishers and a concurrent subscriber (ConcurrentSubscribe)", async () => {
    const { topic, subscription } = await ctx.pair("concurrent");
    const publishers = 10;
    const perPublisher = 50;
    await Promise.all(
      Array.from({ length: publishers }, async (_, p) => {
        for (let i = 0; i < perPublisher; i++) await topic.send({ body: `p${p}-${i}` });
      }),
    );
    const seen = await collect(subscription, publishers * perPublisher, 8, ctx.receiveTimeoutMs * 2);
    expect(seen.size).toBe(publishers * perPublisher);
    expect(seen.duplicates).toBe(0);
  });

  it("handles many topics at once (ConcurrentSubscribeMultipleTopics)", async () => {
    const results = await Promise.all(
      Array.from({ length: 5 }, async (_, t) => {
        const { topic, subscription } = await ctx.pair(`multi-${t}`);
        const sent = numbered(`t${t}`, 40);
        await Promise.all(sent.map((body) => topic.send({ body })));
        const seen = await collect(subscription, 40, 4, ctx.receiveTimeoutMs * 2);
        return { sent, got: [...seen.bodies].sort() };
      }),
    );
    for (const { sent, got } of results) expect(got).toEqual(sent);
  });

  it("shares one subscription's messages between its consumers (ConsumerGroups)", async ({ skip }) => {
    if (!ctx.caps.consumerGroups) skip(`${ctx.caps.name} does not declare consumerGroups`);
    const { topic, subscription, openedSubscription } = await ctx.pair("groups", undefined, {
      maxReceiveBatchSize: 10,
    });
    const other = await ctx.openConsumer(openedSubscription, { maxReceiveBatchSize: 10 });
    const sent = numbered("g", 200);
    const byConsumer = [new Set<string>(), new Set<string>()];
    let total = 0;
    let finish: () => void = () => {};
    const allIn = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const run = (sub: Subscription, mine: Set<string>) =>
      sub.process(
        async (m) => {
          mine.add(m.text());
          if (++total === 200) finish();
          await new Promise((r) => setImmediate(r));
        },
        { concurrency: 2 },
      );
    const runs = [run(subscription, byConsumer[0] as Set<string>), run(other, byConsumer[1] as Set<string>)];
    await Promise.all(sent.map((body) => topic.send({ body })));
    await withTimeout(allIn, ctx.receiveTimeoutMs * 2, "consumer groups");
    await Promise.all([subscription.shutdown(), other.shutdown()]);
    await Promise.all(runs);
    const [a, b] = byConsumer as [Set<string>, Set<string>];
    expect([...new Set([...a, ...b])].sort()).toEqual(sent);
    expect(a.size + b.size).toBe(200);
  });

  it("sends everything that was pending when the topic shuts down (PublisherClose)", async () => {
    const { topic, subscription } = await ctx.pair("publisher-close");
    const sent = numbered("pc", 300);
    const sends = sent.map((body) => topic.send({ body }));
    await topic.shutdown();
    const outcomes = await Promise.allSettled(sends);
    expect(outcomes.filter((o) => o.status === "rejected")).toEqual([]);
    const seen = await collect(subscription, 300, 4, ctx.receiveTimeoutMs * 2);
    expect([...seen.bodies].sort()).toEqual(sent);
  });

  it("iterates with for await and ends the loop cleanly at shutdown", async () => {
    const { topic, subscription } = await ctx.pair("iterate");
    const sent = numbered("it", 5);
    for (const body of sent) await topic.send({ body });
    const got: string[] = [];
    for await (const message of subscription) {
      got.push(message.text());
      message.ack();
      if (got.length === 5) void subscription.shutdown();
    }
    expect(got.sort()).toEqual(sent);
  });
}

interface Collected {
  bodies: Set<string>;
  size: number;
  duplicates: number;
}

/**
 * Runs `process` until `n` distinct bodies arrived, then shuts the
 * subscription down; counts duplicates.
 */
export async function collect(subscription: Subscription, n: number, concurrency: number, timeoutMs: number) {
  const bodies = new Set<string>();
  let duplicates = 0;
  const processing = subscription.process(
    (m) => {
      const body = m.text();
      if (bodies.has(body)) duplicates++;
      bodies.add(body);
      if (bodies.size === n) void subscription.shutdown();
    },
    { concurrency },
  );
  await withTimeout(processing, timeoutMs, `collecting ${n} messages`);
  return {
    bodies,
    get size() {
      return bodies.size;
    },
    duplicates,
  } satisfies Collected;
}

import { Subscription, Topic } from "@portable-pubsub/core/driver";
import { expect, it } from "vitest";
import type { SuiteContext } from "../context.js";
import { FaultProxy } from "../fault-proxy.js";
import type { Harness } from "../harness.js";
import { withTimeout } from "./acks.js";

/**
 * Watermill's Reconnect case, driven through a FaultProxy: connections are
 * cut again and again while messages are sent and received; every send must
 * resolve and every message must arrive.
 */
export function reconnectCases(ctx: SuiteContext): void {
  it("loses nothing while its connections are cut repeatedly (Reconnect)", async ({ skip }) => {
    const reconnect = ctx.caps.reconnect;
    if (!reconnect) skip(`${ctx.caps.name} does not declare reconnect`);
    if (!reconnect) return;
    const total = reconnect.messages ?? 2000;
    const proxy = await FaultProxy.start({ upstream: reconnect.upstream });
    ctx.defer(() => proxy.close());
    const harness = await reconnect.harness({ host: proxy.host, port: proxy.port });
    ctx.defer(async () => harness.close?.());
    // Resources are made through the proxied harness, so the cut hits the drivers under test.
    const { topic, subscription } = await openPair(ctx, harness, "reconnect");
    const received = receiveAll(subscription, total);

    // Cuts come with progress (every tenth of the messages) and with time (every 400 ms),
    // so a fast driver is cut as often as a slow one.
    let cuts = 0;
    const cut = () => {
      cuts++;
      proxy.cut();
    };
    const cutter = setInterval(cut, 400);
    const cutEvery = Math.max(1, Math.floor(total / 10));
    let sent = 0;
    const failures: unknown[] = [];
    try {
      const publishers = 10;
      await Promise.all(
        Array.from({ length: publishers }, async (_, p) => {
          for (let i = p; i < total; i += publishers) {
            await topic.send({ body: `rc-${i}` }).catch((err: unknown) => failures.push(err));
            if (++sent % cutEvery === 0 && sent < total) cut();
            if (i % 50 === 0) await new Promise((r) => setTimeout(r, 5));
          }
        }),
      );
    } finally {
      clearInterval(cutter);
    }
    await withTimeout(received.allIn, 60_000, `receiving ${total} messages after cuts`);
    expect(failures).toEqual([]);
    expect(received.seen.size).toBe(total);
    expect(cuts).toBeGreaterThanOrEqual(9);
    expect(proxy.accepted).toBeGreaterThan(1);
    console.info(
      `[${ctx.caps.name}] reconnect: ${total} sent, ${received.seen.size} distinct received, ` +
        `${received.deliveries - received.seen.size} duplicates, ${cuts} cuts, ${proxy.accepted} connections`,
    );
  });

  it("loses nothing while the broker restarts twice (Reconnect with RestartServiceCommand)", async ({ skip }) => {
    const restart = ctx.caps.restart;
    if (!restart) skip(`${ctx.caps.name} does not declare restart`);
    if (!restart) return;
    const total = restart.messages ?? 3000;
    const harness = restart.harness ? await restart.harness() : ctx.harness;
    if (restart.harness) ctx.defer(async () => harness.close?.());
    const { topic, subscription, reportsHealth } = await openPair(ctx, harness, "restart");
    const received = receiveAll(subscription, total);
    let outages = 0;
    topic.onHealthChange((h) => {
      if (h.state === "reconnecting") outages++;
    });

    // The broker stops at a third and at two thirds of the messages. Publishers hold still until
    // it is down, so that sends are made during the outage, then go on while it starts again.
    const restartAt = [Math.floor(total / 3), Math.floor((2 * total) / 3)];
    const restarts: Promise<void>[] = [];
    let down: Promise<void> | undefined;
    let sent = 0;
    const failures: unknown[] = [];
    const publishers = 20;
    let lastStart: Promise<void> = Promise.resolve();
    const restartBroker = () => {
      // The second restart can come due while the first start has yet to return (sends resume once the broker
      // accepts them, before its start command sees it up): the stop waits for that start, as the contract says.
      const stopped = lastStart.then(() => restart.stopBroker());
      const started = stopped.finally(() => new Promise((r) => setTimeout(r, 500))).then(() => restart.startBroker());
      lastStart = started;
      // Observed at once: a failed start is this test's failure (awaited below), not an unhandled rejection.
      started.catch(() => {});
      restarts.push(started);
      ctx.defer(() => started.catch(() => restart.startBroker()));
      return stopped;
    };
    await Promise.all(
      Array.from({ length: publishers }, async (_, p) => {
        for (let i = p; i < total; i += publishers) {
          if (down) await down;
          await topic.send({ body: `rs-${i}` }).catch((err: unknown) => failures.push(err));
          if (restartAt.includes(++sent)) {
            down = restartBroker();
            await down;
            down = undefined;
          }
        }
      }),
    );
    await Promise.all(restarts);
    await withTimeout(received.allIn, 120_000, `receiving ${total} messages across broker restarts`);
    expect(failures).toEqual([]);
    expect(restarts.length).toBe(2);
    expect(received.seen.size).toBe(total);
    // A driver that reports health must have seen both outages.
    if (reportsHealth) expect(outages).toBeGreaterThanOrEqual(2);
    console.info(
      `[${ctx.caps.name}] restart: ${total} sent, ${received.seen.size} distinct received, ` +
        `${received.deliveries - received.seen.size} duplicates, ${restarts.length} broker restarts, ${outages} outages seen by the topic`,
    );
  });
}

/** A topic and a subscription to it, made through `harness` and removed after the case. */
async function openPair(ctx: SuiteContext, harness: Harness, name: string) {
  const createdTopic = await harness.createTopic(ctx.unique(name));
  ctx.defer(() => createdTopic.cleanup());
  const createdSub = await harness.createSubscription(createdTopic, ctx.unique(name));
  ctx.defer(() => createdSub.cleanup());
  const topic = new Topic(createdTopic.driver);
  const subscription = new Subscription(createdSub.driver);
  ctx.defer(() => topic.shutdown({ signal: AbortSignal.timeout(10_000) }));
  ctx.defer(() => subscription.shutdown({ signal: AbortSignal.timeout(10_000) }));
  return { topic, subscription, reportsHealth: createdTopic.driver.health !== undefined };
}

/** Processes `subscription` (8 at a time), counting distinct bodies and deliveries; `allIn` resolves at `total` distinct. */
function receiveAll(subscription: Subscription, total: number) {
  const seen = new Set<string>();
  let finish: () => void = () => {};
  const received = {
    seen,
    deliveries: 0,
    allIn: new Promise<void>((resolve) => {
      finish = resolve;
    }),
  };
  subscription
    .process(
      (m) => {
        received.deliveries++;
        seen.add(m.text());
        if (seen.size === total) finish();
      },
      { concurrency: 8 },
    )
    .catch(() => {});
  return received;
}

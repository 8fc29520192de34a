/**
 * Outages against the real broker through conformance's FaultProxy: the
 * seed case (an idle service whose connection was silently dropped) and a
 * shutdown without a deadline of the caller's while the broker is gone.
 */
import { FaultProxy } from "@portable-pubsub/conformance";
import { ErrorCode, errorCode } from "@portable-pubsub/core";
import { openRabbitSubscription, openRabbitTopic } from "@portable-pubsub/driver-rabbit";
import { describe, expect, it } from "vitest";
import { BROKER, cleanupAfterEach, makeExchangeAndQueue, skipWithoutBroker, sleep, unique } from "./support.js";

const { defer, shutdownLater } = cleanupAfterEach();

async function proxied(name: string) {
  const proxy = await FaultProxy.start({ upstream: BROKER });
  defer(() => proxy.close());
  const exchange = unique(name);
  const queue = unique(name);
  defer(await makeExchangeAndQueue(exchange, queue));
  const settings = { serverUrl: `amqp://guest:guest@${proxy.address}`, heartbeat: 1, connectionName: unique(name) };
  return { proxy, exchange, queue, settings };
}

describe.skipIf(skipWithoutBroker)("rabbit outages", () => {
  it("(9) the seed case: idle for a while, silently dropped for over three heartbeats, then works again", async () => {
    const { proxy, exchange, queue, settings } = await proxied("seed");
    const topic = openRabbitTopic(settings, exchange);
    const subscription = openRabbitSubscription(settings, queue);
    shutdownLater(topic, subscription);
    await Promise.all([topic.ready(), subscription.ready()]);
    const states = { topic: [] as string[], subscription: [] as string[] };
    topic.onHealthChange((h) => states.topic.push(h.state));
    subscription.onHealthChange((h) => states.subscription.push(h.state));
    // No bytes and no FIN for 3.5 heartbeats of 1 s: only heartbeats can tell.
    proxy.stall();
    await sleep(3500);
    proxy.resume();
    await topic.send({ body: "after the silence" }, { signal: AbortSignal.timeout(10_000) });
    const message = await subscription.receive({ signal: AbortSignal.timeout(10_000) });
    message.ack();
    expect(message.text()).toBe("after the silence");
    for (const seen of [states.topic, states.subscription]) {
      expect(seen[0]).toBe("reconnecting");
      expect(seen.at(-1)).toBe("ready");
    }
    expect(topic.health.state).toBe("ready");
    expect(subscription.health.state).toBe("ready");
  });

  it("(5) ends a shutdown without a signal (await using) within shutdownTimeoutMs while the broker is unreachable", async () => {
    const { proxy, exchange, queue, settings } = await proxied("no-deadline");
    let pending: Promise<unknown> | undefined;
    let shutdownStarted = 0;
    {
      await using topic = openRabbitTopic(settings, exchange, { shutdownTimeoutMs: 1000 });
      await using subscription = openRabbitSubscription(settings, queue, { shutdownTimeoutMs: 1000 });
      await topic.send({ body: "before" });
      (await subscription.receive({ signal: AbortSignal.timeout(5000) })).ack();
      proxy.stall();
      pending = topic.send({ body: "never confirmed" }).catch((e: unknown) => e);
      await sleep(100);
      shutdownStarted = Date.now();
    }
    const took = Date.now() - shutdownStarted;
    // Two shutdowns in turn (subscription, then topic), each bounded by its 1 s.
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(3500);
    expect(errorCode(await pending)).toBe(ErrorCode.DeadlineExceeded);
  });
});

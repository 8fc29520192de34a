/**
 * How drivers share connections, against the real broker: a full
 * connection (channel_max) gets a sibling or a clear ResourceExhausted, and
 * publishers and consumers use separate connections, so that a memory
 * alarm that blocks publishing does not stop acks.
 */
import { ErrorCode, errorCode } from "@portable-pubsub/core";
import { connectRabbit, openRabbitSubscription, openRabbitTopic } from "@portable-pubsub/driver-rabbit";
import type { Channel, ConfirmChannel } from "amqplib";
import { describe, expect, it } from "vitest";
import {
  cleanupAfterEach,
  makeExchangeAndQueue,
  rabbitmqctl,
  SERVER_URL,
  skipWithoutBroker,
  unique,
  waitFor,
} from "./support.js";

const { defer, shutdownLater } = cleanupAfterEach();

/** The broker's vm_memory_high_watermark as `set_vm_memory_high_watermark` takes it back: ["0.4"] or ["absolute", "1073741824"]. */
async function memoryWatermark(): Promise<string[]> {
  const environment = await rabbitmqctl("environment");
  const relative = /\{vm_memory_high_watermark,([\d.]+)\}/.exec(environment);
  if (relative?.[1]) return [relative[1]];
  const absolute = /\{vm_memory_high_watermark,\{absolute,"?([^"}]+)"?\}\}/.exec(environment);
  if (absolute?.[1]) return ["absolute", absolute[1]];
  throw new Error("cannot read vm_memory_high_watermark from rabbitmqctl environment");
}

describe.skipIf(skipWithoutBroker)("rabbit connections", () => {
  it("(4) opens another shared connection when one has no channel left (channelMax=3)", async () => {
    const exchange = unique("chmax");
    const queue = unique("chmax");
    defer(await makeExchangeAndQueue(exchange, queue));
    const settings = { serverUrl: `${SERVER_URL}?channelMax=3`, connectionName: unique("chmax") };
    const topics = Array.from({ length: 5 }, () => openRabbitTopic(settings, exchange));
    const subscriptions = Array.from({ length: 4 }, () => openRabbitSubscription(settings, queue));
    shutdownLater(...topics, ...subscriptions);
    await Promise.all([...topics, ...subscriptions].map((o) => o.ready({ signal: AbortSignal.timeout(10_000) })));
    await Promise.all(topics.map((t, i) => t.send({ body: `t${i}` })));
    const bodies = new Set<string>();
    const allIn = new AbortController();
    await Promise.all(
      subscriptions.map(async (s) => {
        const signal = AbortSignal.any([allIn.signal, AbortSignal.timeout(10_000)]);
        while (bodies.size < topics.length) {
          const m = await s.receive({ signal }).catch(() => undefined);
          if (!m) return;
          bodies.add(m.text());
          m.ack();
          if (bodies.size === topics.length) allIn.abort();
        }
      }),
    );
    expect([...bodies].sort()).toEqual(["t0", "t1", "t2", "t3", "t4"]);
    // Five channels for publishing on connections of three: two connections; four for consuming: two more.
    expect(new Set(topics.map((t) => t.as<ConfirmChannel>().connection)).size).toBe(2);
    expect(new Set(subscriptions.map((s) => s.as<Channel>().connection)).size).toBe(2);
  });

  it("(4) fails a resource beyond channel_max of a connection of yours with ResourceExhausted, saying what to do", async () => {
    const exchange = unique("chmax-own");
    defer(await makeExchangeAndQueue(exchange, undefined));
    const connection = connectRabbit({ serverUrl: `${SERVER_URL}?channelMax=2` });
    defer(() => connection.close());
    const topics = Array.from({ length: 3 }, () => openRabbitTopic(connection, exchange, { mandatory: false }));
    shutdownLater(...topics);
    const outcomes = await Promise.all(
      topics.map((t) =>
        t.ready({ signal: AbortSignal.timeout(5000) }).then(
          () => "ready",
          (e: unknown) => e,
        ),
      ),
    );
    expect(outcomes.filter((o) => o === "ready")).toHaveLength(2);
    const failure = outcomes.find((o) => o !== "ready");
    expect(errorCode(failure)).toBe(ErrorCode.ResourceExhausted);
    expect((failure as Error).message).toMatch(/all 2 channels .*\(channel_max 2\).*connectRabbit.*channelMax/);
    const full = topics[outcomes.indexOf(failure)];
    const sent = await full?.send({ body: "x" }, { signal: AbortSignal.timeout(5000) }).catch((e: unknown) => e);
    expect(errorCode(sent)).toBe(ErrorCode.ResourceExhausted);
    expect(connection.health.current().state).toBe("ready");
  });

  it("(6) keeps acks flowing during a memory alarm: publishers wait and show blocked, consumers do not", async () => {
    const exchange = unique("alarm");
    const queue = unique("alarm");
    defer(await makeExchangeAndQueue(exchange, queue));
    const settings = { serverUrl: SERVER_URL, connectionName: unique("alarm") };
    const topic = openRabbitTopic(settings, exchange);
    // Prefetch 1: each delivery after the first needs the ack of the one before to reach the broker.
    const subscription = openRabbitSubscription(settings, queue, { prefetch: 1 });
    shutdownLater(topic, subscription);
    const count = 20;
    await Promise.all(Array.from({ length: count }, (_, i) => topic.send({ body: `pre-${i}` })));
    await subscription.ready();
    const watermark = await memoryWatermark();
    let sent = false;
    let during: Promise<void> | undefined;
    const received: string[] = [];
    try {
      await rabbitmqctl("set_vm_memory_high_watermark", "0.0000001");
      during = topic.send({ body: "during" }).then(() => {
        sent = true;
      });
      await waitFor(() => topic.health.blocked !== undefined, 10_000, "the topic to show the block");
      while (received.length < count) {
        const m = await subscription.receive({ signal: AbortSignal.timeout(5000) });
        received.push(m.text());
        m.ack();
      }
      expect(sent).toBe(false);
      expect(topic.health.blocked).toMatch(/memory/);
      expect(subscription.health.blocked).toBeUndefined();
    } finally {
      await rabbitmqctl("set_vm_memory_high_watermark", ...watermark);
    }
    await during;
    const after = await subscription.receive({ signal: AbortSignal.timeout(5000) });
    after.ack();
    expect(received).toEqual(Array.from({ length: count }, (_, i) => `pre-${i}`));
    expect(after.text()).toBe("during");
    await waitFor(() => topic.health.blocked === undefined, 10_000, "the topic to show the unblock");
    expect(topic.as<ConfirmChannel>().connection).not.toBe(subscription.as<Channel>().connection);
  });
});

/**
 * The rest of "what reliable means here", against the real broker: the
 * newcomer path (declare), a shared connection closed by its last user,
 * routing keys from metadata, failover, sends that wait out an outage while
 * core bounds what the driver holds, send order under small batching limits,
 * stale acks dropped, and shutdown within a deadline (blocked connections:
 * connections.test.ts).
 */

import { FaultProxy } from "@portable-pubsub/conformance";
import { ErrorCode, errorCode, openSubscription, openTopic, Subscription, Topic } from "@portable-pubsub/core";
import {
  connectRabbit,
  declareRabbitTopology,
  openRabbitSubscription,
  openRabbitTopic,
  rabbitSubscriptionDriver,
  rabbitTopicDriver,
} from "@portable-pubsub/driver-rabbit";
import type { Channel, ConfirmChannel, ConsumeMessage } from "amqplib";
import { describe, expect, it } from "vitest";
import {
  BROKER,
  cleanupAfterEach,
  makeExchangeAndQueue,
  SERVER_URL,
  skipWithoutBroker,
  sleep,
  unique,
  withAdmin,
} from "./support.js";

const { defer, shutdownLater: later } = cleanupAfterEach();
const deleteLater = (exchanges: string[], queues: string[]) =>
  defer(() =>
    withAdmin(async (ch) => {
      for (const q of queues) await ch.deleteQueue(q).catch(() => {});
      for (const e of exchanges) await ch.deleteExchange(e).catch(() => {});
    }),
  );

describe.skipIf(skipWithoutBroker)("rabbit behaviour", () => {
  it("gets a newcomer's message through with declare=true, publishing and consuming on separate connections", async () => {
    const exchange = unique("newcomer");
    const queue = unique("newcomer");
    deleteLater([exchange], [queue]);
    process.env.RABBIT_SERVER_URL = SERVER_URL;
    try {
      const subscription = await openSubscription(`rabbit://${queue}?declare=true&exchange=${exchange}`);
      later(subscription);
      const topic = await openTopic(`rabbit://${exchange}?declare=true`);
      later(topic);
      await topic.send({ body: "hello", metadata: { kind: "greeting" } });
      const message = await subscription.receive({ signal: AbortSignal.timeout(5000) });
      message.ack();
      expect(message.text()).toBe("hello");
      expect(message.metadata.kind).toBe("greeting");
      expect(topic.as<ConfirmChannel>().connection).not.toBe(subscription.as<Channel>().connection);
      // Health says where each connection is: the server (node) it is on, without the password.
      const server = new URL(SERVER_URL);
      const where = `amqp://***@${server.host}`;
      expect([topic.health.endpoint, subscription.health.endpoint]).toEqual([where, where]);
    } finally {
      delete process.env.RABBIT_SERVER_URL;
    }
    // Declared durable: they are there for the next run of the service.
    await withAdmin(async (ch) => {
      await ch.checkExchange(exchange);
      expect((await ch.checkQueue(queue)).messageCount).toBe(0);
    });
  });

  it("declares with the helper, too", async () => {
    const exchange = unique("helper");
    const queue = unique("helper");
    deleteLater([exchange], [queue]);
    await declareRabbitTopology(
      { serverUrl: SERVER_URL },
      {
        exchange: { name: exchange, type: "fanout" },
        queue: { name: queue, bindTo: exchange, exchangeType: "fanout" },
      },
    );
    const topic = openRabbitTopic({ serverUrl: SERVER_URL }, exchange);
    const subscription = openRabbitSubscription({ serverUrl: SERVER_URL }, queue);
    later(topic);
    later(subscription);
    await topic.send({ body: "declared" });
    const message = await subscription.receive({ signal: AbortSignal.timeout(5000) });
    message.ack();
    expect(message.text()).toBe("declared");
  });

  it("shares one connection per role between drivers with equal settings and closes it with its last user", async () => {
    const exchange = unique("shared");
    defer(await makeExchangeAndQueue(exchange, `${exchange}-q`));
    const settings = { serverUrl: SERVER_URL, connectionName: unique("shared") };
    const a = rabbitTopicDriver(settings, exchange);
    const b = rabbitTopicDriver(settings, exchange);
    const c = rabbitSubscriptionDriver(settings, `${exchange}-q`);
    expect(a.connection).toBe(b.connection);
    expect(c.connection).not.toBe(a.connection);
    const topics = [new Topic(a), new Topic(b)];
    const subscription = new Subscription(c);
    await Promise.all(topics.map((t) => t.send({ body: "x" })));
    await topics[0]?.shutdown();
    expect(a.connection.closed).toBe(false);
    expect(a.connection.health.current().state).toBe("ready");
    await topics[1]?.shutdown();
    expect(a.connection.closed).toBe(true);
    expect(a.connection.health.current().state).toBe("closed");
    expect(c.connection.closed).toBe(false);
    await subscription.shutdown();
    expect(c.connection.closed).toBe(true);
  });

  it("takes the routing key from a metadata key", async () => {
    const exchange = unique("routed");
    const queue = `${exchange}-eu`;
    defer(await makeExchangeAndQueue(exchange, queue, { type: "topic", bindingKey: "eu.#" }));
    const topic = await openTopic(`rabbit://${exchange}?routingKeyFrom=region`, { serverUrl: SERVER_URL });
    later(topic);
    const subscription = openRabbitSubscription({ serverUrl: SERVER_URL }, queue);
    later(subscription);
    await topic.send({ body: "for eu", metadata: { region: "eu.north" } });
    const error = await topic.send({ body: "for us", metadata: { region: "us.east" } }).catch((e: unknown) => e);
    expect(errorCode(error)).toBe(ErrorCode.NotFound);
    expect((error as Error).message).toMatch(/routing key "us\.east"/);
    const message = await subscription.receive({ signal: AbortSignal.timeout(5000) });
    message.ack();
    expect(message.text()).toBe("for eu");
    expect(message.as<ConsumeMessage>().fields.routingKey).toBe("eu.north");
  });

  it("fails over between comma-separated server URLs, at first connect and after a loss", async () => {
    const exchange = unique("failover");
    const queue = unique("failover");
    defer(await makeExchangeAndQueue(exchange, queue));
    const first = await FaultProxy.start({ upstream: BROKER });
    const second = await FaultProxy.start({ upstream: BROKER });
    defer(() => first.close());
    defer(() => second.close());
    const dead = "amqp://guest:guest@127.0.0.1:1";
    const connection = connectRabbit({
      serverUrl: `${dead},amqp://guest:guest@${first.address},amqp://guest:guest@${second.address}`,
      heartbeat: 1,
    });
    defer(() => connection.close());
    const topic = openRabbitTopic(connection, exchange);
    later(topic);
    await topic.send({ body: "via one" });
    // The order is the connection's own shuffle: whichever proxy it reached, the loss of it moves it to the other.
    const [used, other] = first.accepted === 1 ? [first, second] : [second, first];
    expect([used.accepted, other.accepted]).toEqual([1, 0]);
    expect(connection.node?.server).toBe(`amqp://***@${used.address}`);
    used.refuse(true);
    used.cut();
    await topic.send({ body: "via the other" });
    expect(other.accepted).toBe(1);
    expect(connection.node?.server).toBe(`amqp://***@${other.address}`);
    expect(connection.connects).toBe(2);
    await withAdmin(async (ch) => expect((await ch.checkQueue(queue)).messageCount).toBe(2));
  });

  it("makes sends wait out an outage, holding only what core hands over, and confirms them after", async () => {
    const exchange = unique("outage");
    const queue = unique("outage");
    defer(await makeExchangeAndQueue(exchange, queue));
    const proxy = await FaultProxy.start({ upstream: BROKER });
    defer(() => proxy.close());
    const settings = { serverUrl: `amqp://guest:guest@${proxy.address}`, heartbeat: 1, reconnectMaxDelayMs: 200 };
    const driver = rabbitTopicDriver(settings, exchange);
    // Core owns backpressure: with one batch (of at most 5) in flight, the other sends wait in core, not in the driver.
    const topic = new Topic(driver, { batching: { maxBatchSize: 5, maxConcurrentBatches: 1 } });
    later(topic);
    await topic.send({ body: "before" });
    proxy.refuse(true);
    proxy.cut();
    const outcomes: string[] = [];
    const sends = Array.from({ length: 20 }, (_, i) =>
      topic.send({ body: `during-${i}` }).then(
        () => outcomes.push("ok"),
        (e: unknown) => outcomes.push(String(errorCode(e))),
      ),
    );
    await sleep(1000);
    expect(outcomes).toEqual([]);
    expect(topic.health.state).toBe("reconnecting");
    // Core hands an idle topic its first send alone, then batches: the driver never holds more than one batch.
    expect(driver.outstanding).toBeGreaterThan(0);
    expect(driver.outstanding).toBeLessThanOrEqual(5);
    proxy.refuse(false);
    await Promise.all(sends);
    expect(outcomes).toEqual(Array(20).fill("ok"));
    await withAdmin(async (ch) => expect((await ch.checkQueue(queue)).messageCount).toBe(21));
  });

  it("delivers every send exactly once, in send order, under small batching limits and bursts", async () => {
    const exchange = unique("order");
    const queue = unique("order");
    defer(await makeExchangeAndQueue(exchange, queue));
    const limits = { maxBatchSize: 3, maxConcurrentBatches: 2 };
    const driver = rabbitTopicDriver({ serverUrl: SERVER_URL }, exchange);
    const topic = new Topic(driver, { batching: limits });
    later(topic);
    const subscription = openRabbitSubscription({ serverUrl: SERVER_URL }, queue);
    later(subscription);
    const total = 400;
    const sends: Promise<void>[] = [];
    let most = 0;
    // Bursts of 1..50 sends, none awaited; some bursts follow at once, some after batches left.
    for (let burst = 0, next = 0; next < total; burst++) {
      const size = Math.min(total - next, 1 + ((burst * 37) % 50));
      for (let i = 0; i < size; i++) sends.push(topic.send({ body: String(next++) }));
      most = Math.max(most, driver.outstanding);
      if (burst % 3 !== 0) await new Promise((resolve) => setImmediate(resolve));
      most = Math.max(most, driver.outstanding);
    }
    const outcomes = await Promise.allSettled(sends);
    expect(outcomes.filter((o) => o.status === "rejected")).toEqual([]);
    expect(most).toBeLessThanOrEqual(limits.maxBatchSize * limits.maxConcurrentBatches);
    const bodies: string[] = [];
    while (bodies.length < total) {
      const message = await subscription.receive({ signal: AbortSignal.timeout(10_000) });
      bodies.push(message.text());
      message.ack();
    }
    expect(bodies).toEqual(Array.from({ length: total }, (_, i) => String(i)));
    await sleep(200);
    await withAdmin(async (ch) => expect((await ch.checkQueue(queue)).messageCount).toBe(0));
  });

  it("with failFast off, opens before the broker is there and sends once it comes", async () => {
    const exchange = unique("late");
    const queue = unique("late");
    defer(await makeExchangeAndQueue(exchange, queue));
    const proxy = await FaultProxy.start({ upstream: BROKER });
    defer(() => proxy.close());
    proxy.refuse(true);
    const topic = await openTopic(`rabbit://${exchange}`, {
      serverUrl: `amqp://guest:guest@${proxy.address}`,
      failFast: false,
      reconnectMaxDelayMs: 200,
    });
    later(topic);
    expect(topic.health.state).toBe("connecting");
    let sent = false;
    const sending = topic.send({ body: "late" }).then(() => {
      sent = true;
    });
    await sleep(500);
    expect(sent).toBe(false);
    expect(topic.health.lastError?.message).toMatch(/cannot connect/);
    proxy.refuse(false);
    await sending;
    expect(topic.health.state).toBe("ready");
  });

  it("does not stop silently when its queue is deleted: receive fails with NotFound", async () => {
    const exchange = unique("deleted");
    const queue = unique("deleted");
    defer(await makeExchangeAndQueue(exchange, queue));
    const subscription = openRabbitSubscription({ serverUrl: SERVER_URL }, queue, { retry: { maxAttempts: 2 } });
    later(subscription);
    const waiting = subscription.receive({ signal: AbortSignal.timeout(10_000) }).catch((e: unknown) => e);
    await sleep(200);
    await withAdmin((ch) => ch.deleteQueue(queue));
    const error = await waiting;
    expect(errorCode(error)).toBe(ErrorCode.NotFound);
    expect((error as Error).message).toMatch(/no queue/);
  });

  it("drops an ack for a delivery of a dead channel instead of breaking the new one", async () => {
    const exchange = unique("stale");
    const queue = unique("stale");
    defer(await makeExchangeAndQueue(exchange, queue));
    const proxy = await FaultProxy.start({ upstream: BROKER });
    defer(() => proxy.close());
    const connection = connectRabbit({ serverUrl: `amqp://guest:guest@${proxy.address}`, heartbeat: 1 });
    defer(() => connection.close());
    const topic = openRabbitTopic({ serverUrl: SERVER_URL }, exchange);
    const events: Record<string, unknown>[] = [];
    const log = (e: Record<string, unknown>) => events.push(e);
    const subscription = openRabbitSubscription(connection, queue, { logger: { info: log, warn: log, error: log } });
    later(topic);
    later(subscription);
    await topic.send({ body: "once" });
    const first = await subscription.receive({ signal: AbortSignal.timeout(5000) });
    const oldChannel = subscription.as<Channel>();
    proxy.cut();
    const second = await subscription.receive({ signal: AbortSignal.timeout(10_000) });
    const newChannel = subscription.as<Channel>();
    expect(newChannel).not.toBe(oldChannel);
    expect(second.text()).toBe("once");
    expect(second.as<ConsumeMessage>().fields.redelivered).toBe(true);
    let channelClosed = false;
    newChannel.once("close", () => {
      channelClosed = true;
    });
    first.ack(); // Its delivery tag belongs to the dead channel: sent, it would close the new one with 406.
    second.ack();
    await sleep(300);
    expect(channelClosed).toBe(false);
    expect(subscription.as<Channel>()).toBe(newChannel);
    await topic.send({ body: "next" });
    const third = await subscription.receive({ signal: AbortSignal.timeout(5000) });
    third.ack();
    expect(third.text()).toBe("next");
    const dropped = events.filter((e) => e.event === "pubsub.stale_acks_dropped");
    expect(dropped).toHaveLength(1);
    expect(dropped[0]?.count).toBe(1);
    expect(dropped[0]?.message).toBe(
      `${dropped[0]?.resource}: 1 acks or nacks dropped: their channel closed, and the broker delivers those messages again`,
    );
    expect(dropped[0]?.resource).toMatch(new RegExp(`^rabbit queue "${queue}" on amqp://\\*\\*\\*@127\\.0\\.0\\.1:`));
    await sleep(200);
    await withAdmin(async (ch) => expect((await ch.checkQueue(queue)).messageCount).toBe(0));
    expect(connection.connects).toBe(2);
  });

  it("shuts down within the deadline even when the broker does not answer", async () => {
    const exchange = unique("deadline");
    const queue = unique("deadline");
    defer(await makeExchangeAndQueue(exchange, queue));
    const proxy = await FaultProxy.start({ upstream: BROKER });
    defer(() => proxy.close());
    const settings = { serverUrl: `amqp://guest:guest@${proxy.address}`, heartbeat: 30 };
    const topic = openRabbitTopic(settings, exchange);
    const subscription = openRabbitSubscription(settings, queue);
    await topic.send({ body: "x" });
    (await subscription.receive({ signal: AbortSignal.timeout(5000) })).ack();
    proxy.stall();
    const pending = topic.send({ body: "never confirmed" }).catch((e: unknown) => e);
    const started = Date.now();
    const results = await Promise.allSettled([
      topic.shutdown({ signal: AbortSignal.timeout(500) }),
      subscription.shutdown({ signal: AbortSignal.timeout(500) }),
    ]);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(results.map((r) => r.status === "rejected" && errorCode(r.reason))).toEqual([
      ErrorCode.DeadlineExceeded,
      ErrorCode.DeadlineExceeded,
    ]);
    expect([ErrorCode.DeadlineExceeded, ErrorCode.Canceled]).toContain(errorCode(await pending));
    expect(topic.health.state).toBe("closed");
  });

  it("lets in-flight handlers and acks finish at a graceful shutdown", async () => {
    const exchange = unique("graceful");
    const queue = unique("graceful");
    defer(await makeExchangeAndQueue(exchange, queue));
    const topic = openRabbitTopic({ serverUrl: SERVER_URL }, exchange);
    later(topic);
    await Promise.all(Array.from({ length: 10 }, (_, i) => topic.send({ body: `g-${i}` })));
    const subscription = openRabbitSubscription({ serverUrl: SERVER_URL }, queue, { prefetch: 3 });
    const handled: string[] = [];
    const processing = subscription.process(
      async (m) => {
        await sleep(100);
        handled.push(m.text());
        if (handled.length === 4) void subscription.shutdown({ signal: AbortSignal.timeout(5000) });
      },
      { concurrency: 2 },
    );
    await processing;
    await subscription.shutdown();
    await sleep(200);
    await withAdmin(async (ch) => expect((await ch.checkQueue(queue)).messageCount).toBe(10 - handled.length));
    expect(handled.length).toBeGreaterThanOrEqual(4);
  });
});

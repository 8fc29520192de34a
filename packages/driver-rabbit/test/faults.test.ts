/**
 * Fault tests (a), (b), (d), (e) of issue 3, against the real broker through
 * conformance's FaultProxy. (c), the broker restart, is in restart.test.ts.
 * (f), confirms lost while the connection stays up, drops them in the client.
 */

import { FaultProxy } from "@portable-pubsub/conformance";
import { ErrorCode, errorCode, type Subscription } from "@portable-pubsub/core";
import {
  connectRabbit,
  openRabbitSubscription,
  openRabbitTopic,
  rabbitErrors,
  replyCodeOf,
} from "@portable-pubsub/driver-rabbit";
import type { ConfirmChannel } from "amqplib";
import { describe, expect, it } from "vitest";
import {
  BROKER,
  cleanupAfterEach,
  makeExchangeAndQueue,
  rabbitmqctl,
  SERVER_URL,
  skipWithoutBroker,
  sleep,
  unique,
  waitFor,
} from "./support.js";

const { defer, shutdownLater } = cleanupAfterEach();

/** The id message `i` is sent with. */
const idOf = (i: number) => `order-${i}`;

/** Counts deliveries per body index until every one of `total` arrived, and those whose id is not `idOf` its index. */
function tally(subscription: Subscription, total: number, concurrency = 16) {
  const seen = new Uint32Array(total);
  let distinct = 0;
  let deliveries = 0;
  let wrongIds = 0;
  let finish: () => void = () => {};
  const all = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const processing = subscription.process(
    (m) => {
      deliveries++;
      const i = Number(m.text());
      if (m.id !== idOf(i)) wrongIds++;
      const before = seen[i] ?? 0;
      seen[i] = before + 1;
      if (before === 0 && ++distinct === total) finish();
    },
    { concurrency },
  );
  processing.catch(() => {});
  return {
    all,
    get distinct() {
      return distinct;
    },
    get duplicates() {
      return deliveries - distinct;
    },
    get wrongIds() {
      return wrongIds;
    },
  };
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe.skipIf(skipWithoutBroker)("rabbit faults", () => {
  it("(a) loses nothing while every connection is cut again and again: 10,000 messages", async () => {
    const proxy = await FaultProxy.start({ upstream: BROKER });
    defer(() => proxy.close());
    const exchange = unique("cuts");
    const queue = unique("cuts");
    defer(await makeExchangeAndQueue(exchange, queue));
    const settings = { serverUrl: `amqp://guest:guest@${proxy.address}`, heartbeat: 1, connectTimeoutMs: 3000 };
    const topic = openRabbitTopic(settings, exchange);
    const subscription = openRabbitSubscription(settings, queue, { prefetch: 200 });
    shutdownLater(topic, subscription);

    const total = 10_000;
    const received = tally(subscription, total);
    // Cuts are tied to progress, not to a clock: every 1,000 confirmed sends, every connection is cut,
    // so the run sees nine cuts while sending however fast the machine is.
    let cuts = 0;
    let confirmed = 0;
    const failures: unknown[] = [];
    const started = Date.now();
    const publishers = 25;
    await Promise.all(
      Array.from({ length: publishers }, async (_, p) => {
        for (let i = p; i < total; i += publishers) {
          try {
            await topic.send({ id: idOf(i), body: String(i) });
            if (++confirmed % 1000 === 0 && confirmed < total && proxy.cut() > 0) cuts++;
          } catch (err) {
            failures.push(err);
          }
        }
      }),
    );
    const sentMs = Date.now() - started;
    await withTimeout(received.all, 60_000, `receiving ${total} messages`);
    console.info(
      `[rabbit (a)] ${total} sent in ${sentMs} ms, ${failures.length} failed, ` +
        `${received.distinct} distinct received, ${received.duplicates} duplicates, ` +
        `${cuts} cuts while sending, ${proxy.accepted} connections`,
    );
    expect(failures).toEqual([]);
    expect(received.distinct).toBe(total);
    // Every delivery, resent after a cut or redelivered, has the id its message was sent with.
    expect(received.wrongIds).toBe(0);
    expect(cuts).toBe(9);
    expect(proxy.accepted).toBeGreaterThan(cuts);
  });

  it("(b) finds a stalled connection by heartbeat within about two intervals, then recovers", async () => {
    const proxy = await FaultProxy.start({ upstream: BROKER });
    defer(() => proxy.close());
    const exchange = unique("stall");
    const queue = unique("stall");
    defer(await makeExchangeAndQueue(exchange, queue));
    const heartbeat = 1;
    const connection = connectRabbit({
      serverUrl: `amqp://guest:guest@${proxy.address}`,
      heartbeat,
      connectTimeoutMs: 4000,
    });
    defer(() => connection.close());
    const topic = openRabbitTopic(connection, exchange);
    const subscription = openRabbitSubscription({ serverUrl: SERVER_URL }, queue);
    shutdownLater(topic, subscription);
    await topic.send({ body: "before" });
    expect(connection.health.current().state).toBe("ready");

    const stalledAt = Date.now();
    proxy.stall();
    await waitFor(() => connection.health.current().state === "reconnecting", 10_000, "the stall to be noticed");
    const detectedMs = Date.now() - stalledAt;
    const during = topic.send({ body: "during" });
    await sleep(200);
    proxy.resume();
    await withTimeout(during, 20_000, "the send made during the stall");
    const recoveredMs = Date.now() - stalledAt;
    expect(connection.health.current().state).toBe("ready");
    const bodies = [await subscription.receive(), await subscription.receive()].map((m) => {
      m.ack();
      return m.text();
    });
    console.info(
      `[rabbit (b)] heartbeat ${heartbeat}s: stall noticed after ${detectedMs} ms, recovered after ${recoveredMs} ms`,
    );
    // Two intervals of silence, plus the watchdog's sampling step (a quarter interval) and timer slack.
    expect(detectedMs).toBeLessThanOrEqual(2 * heartbeat * 1000 + 600);
    expect(detectedMs).toBeGreaterThanOrEqual(heartbeat * 1000);
    expect(connection.connects).toBe(2);
    expect(bodies.sort()).toEqual(["before", "during"]);
  });

  it("(d) recovers after an operator closes every connection (320 CONNECTION_FORCED, retryable)", async () => {
    const exchange = unique("forced");
    const queue = unique("forced");
    defer(await makeExchangeAndQueue(exchange, queue));
    const settings = { serverUrl: SERVER_URL, connectionName: unique("forced") };
    const topic = openRabbitTopic(settings, exchange);
    const subscription = openRabbitSubscription(settings, queue);
    shutdownLater(topic, subscription);
    await topic.send({ body: "0" });
    const connection = topic.as<ConfirmChannel>().connection;
    const losses: (Error | undefined)[] = [];
    topic.onHealthChange((h) => {
      if (h.state === "reconnecting") losses.push(h.lastError);
    });

    // Publishers keep sending until well after the broker closed the connection and the driver recovered.
    let next = 1;
    let stopAt = Number.POSITIVE_INFINITY;
    const failures: unknown[] = [];
    const seen = new Set<string>(["0"]);
    const processing = subscription.process((m) => {
      seen.add(m.text());
    });
    processing.catch(() => {});
    const sending = Promise.all(
      Array.from({ length: 10 }, async () => {
        while (next < stopAt) {
          const n = next++;
          await topic.send({ body: String(n) }).catch((err: unknown) => failures.push(err));
          if (n % 50 === 0) await sleep(2);
        }
      }),
    );
    await sleep(200);
    const sentBeforeClose = next;
    await rabbitmqctl("close_all_connections", "test");
    await waitFor(() => losses.length > 0 && topic.health.state === "ready", 20_000, "recovery");
    stopAt = next + 500;
    await sending;
    const total = stopAt;
    await waitFor(() => seen.size >= total, 30_000, `receiving ${total} messages`);
    console.info(`[rabbit (d)] ${total} sent (${sentBeforeClose} before the close), ${seen.size} distinct received`);
    expect(seen.size).toBe(total);
    expect(failures).toEqual([]);
    expect(sentBeforeClose).toBeGreaterThan(100);
    const forced = losses[0];
    expect(replyCodeOf(forced)).toBe(320);
    expect(rabbitErrors.isRetryable(forced)).toBe(true);
    expect(rabbitErrors.errorCode(forced)).toBe(ErrorCode.Unknown);
    expect(topic.health.state).toBe("ready");
    expect(topic.as<ConfirmChannel>().connection).not.toBe(connection);
  });

  it("(e) fails a publish to a missing exchange with NotFound while another topic on the connection keeps going", async () => {
    const exchange = unique("good");
    const queue = unique("good");
    defer(await makeExchangeAndQueue(exchange, queue));
    const connection = connectRabbit({ serverUrl: SERVER_URL });
    defer(() => connection.close());
    const good = openRabbitTopic(connection, exchange);
    const missing = openRabbitTopic(connection, unique("missing"));
    const subscription = openRabbitSubscription(connection, queue);
    shutdownLater(good, missing, subscription);
    await good.send({ body: "warm-up" });
    const channelBefore = good.as<object>();

    const [error, ...rest] = await Promise.all([
      missing.send({ body: "lost" }).catch((e: unknown) => e),
      ...Array.from({ length: 100 }, (_, i) => good.send({ body: `good-${i}` })),
    ]);
    expect(rest).toHaveLength(100);
    expect(errorCode(error)).toBe(ErrorCode.NotFound);
    expect((error as Error).message).toMatch(/no exchange/);
    // The missing exchange's channel reopens: the topic goes on failing clearly, not with "channel closed".
    expect(errorCode(await missing.send({ body: "again" }).catch((e: unknown) => e))).toBe(ErrorCode.NotFound);
    await good.send({ body: "after" });
    expect(good.as<object>()).toBe(channelBefore);
    expect(connection.connects).toBe(1);
    const got = new Set<string>();
    while (got.size < 102) {
      const m = await subscription.receive({ signal: AbortSignal.timeout(10_000) });
      got.add(m.text());
      m.ack();
    }
    expect(got.has("after")).toBe(true);
  });

  it("(f) republishes on a new channel what a live channel left unconfirmed past the confirm deadline", async () => {
    const exchange = unique("lost-confirm");
    const queue = unique("lost-confirm");
    defer(await makeExchangeAndQueue(exchange, queue));
    const connection = connectRabbit({ serverUrl: SERVER_URL });
    defer(() => connection.close());
    const topic = openRabbitTopic(connection, exchange, { confirmTimeoutMs: 500, batching: { maxBatchSize: 1 } });
    const subscription = openRabbitSubscription(connection, queue);
    shutdownLater(topic, subscription);
    await Promise.all([topic.ready(), subscription.ready()]);
    const first = topic.as<ConfirmChannel>();
    // The broker's confirms on this channel never reach the publisher, as if those frames were lost on the way;
    // the connection and its heartbeats carry on. (FaultProxy drops nothing: a byte lost mid-frame kills the connection.)
    // amqplib's own "ack" listener goes too; it only runs publish callbacks, which the driver does not pass.
    first.removeAllListeners("ack");
    const start = Date.now();
    const bodies = ["m0", "m1", "m2", "m3", "m4"];
    const results = await Promise.all(
      bodies.map((body) => topic.send({ body }, { signal: AbortSignal.timeout(5000) }).catch((e: unknown) => e)),
    );
    const elapsed = Date.now() - start;
    expect(results).toEqual(bodies.map(() => undefined));
    expect(elapsed).toBeGreaterThanOrEqual(490);
    expect(elapsed).toBeLessThan(3000);
    expect(topic.as<ConfirmChannel>()).not.toBe(first);
    expect(connection.connects).toBe(1);
    // Each message reached the queue twice (the first copy was stored, only its confirm was lost), with one id.
    const got: string[] = [];
    for (let i = 0; i < 2 * bodies.length; i++) {
      const m = await subscription.receive({ signal: AbortSignal.timeout(5000) });
      got.push(`${m.text()} ${m.id}`);
      m.ack();
    }
    const ids = new Map(got.map((g) => g.split(" ") as [string, string]));
    expect(ids.size).toBe(bodies.length);
    expect(got.sort()).toEqual(bodies.flatMap((b) => [`${b} ${ids.get(b)}`, `${b} ${ids.get(b)}`]));
  });
});

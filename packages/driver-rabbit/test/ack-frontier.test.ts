/**
 * Ack coalescing: a run of acks from the lowest pending delivery goes as one
 * basic.ack with `multiple`, and never covers a delivery still pending.
 */
import { openRabbitSubscription, openRabbitTopic, rabbitSubscriptionDriver } from "@portable-pubsub/driver-rabbit";
import type { Channel } from "amqplib";
import { describe, expect, it } from "vitest";
import { AckFrontier } from "../src/ack-frontier.js";
import {
  cleanupAfterEach,
  makeExchangeAndQueue,
  SERVER_URL,
  skipWithoutBroker,
  sleep,
  unique,
  withAdmin,
} from "./support.js";

const { defer, shutdownLater: later } = cleanupAfterEach();

describe("AckFrontier", () => {
  it("acks a run from the lowest unsettled tag as one multiple ack", () => {
    const frontier = new AckFrontier();
    expect(frontier.settle(1, [1, 2, 3])).toEqual({ upTo: 3, single: [] });
    expect(frontier.settle(1, [4])).toEqual({ upTo: 4, single: [] });
  });

  it("acks one by one what lies beyond a pending delivery, and joins it to the run once the gap is settled", () => {
    const frontier = new AckFrontier();
    expect(frontier.settle(1, [1, 2, 4, 5])).toEqual({ upTo: 2, single: [4, 5] });
    expect(frontier.settle(1, [6])).toEqual({ upTo: undefined, single: [6] });
    // Tag 3 settles: the run reaches 6, but the multiple ack names 3, the tag being acked (4–6 are acked already).
    expect(frontier.settle(1, [3])).toEqual({ upTo: 3, single: [] });
    expect(frontier.settle(1, [7])).toEqual({ upTo: 7, single: [] });
  });

  it("never names a tag settled before in a multiple ack (a nacked one would close the channel)", () => {
    const frontier = new AckFrontier();
    expect(frontier.settle(1, [2])).toEqual({ upTo: undefined, single: [2] }); // nacked: the consumer sends it alone
    expect(frontier.settle(1, [1])).toEqual({ upTo: 1, single: [] });
  });

  it("takes tags in any order within one call", () => {
    const frontier = new AckFrontier();
    expect(frontier.settle(1, [3, 1, 2])).toEqual({ upTo: 3, single: [] });
  });

  it("starts again on a new channel", () => {
    const frontier = new AckFrontier();
    frontier.settle(1, [1, 2]);
    expect(frontier.settle(2, [2])).toEqual({ upTo: undefined, single: [2] });
    expect(frontier.settle(2, [1])).toEqual({ upTo: 1, single: [] });
  });

  it("acks one by one, for the rest of the channel, once too many tags wait above a pending one", () => {
    const frontier = new AckFrontier();
    const many = Array.from({ length: 10_001 }, (_, i) => i + 2);
    expect(frontier.settle(1, many).single).toHaveLength(10_001);
    expect(frontier.settle(1, [1])).toEqual({ upTo: undefined, single: [1] });
    expect(frontier.settle(2, [1])).toEqual({ upTo: 1, single: [] });
  });
});

describe.skipIf(skipWithoutBroker)("acks on the broker", () => {
  it("acks a delivery received in the same read as consume-ok, before the channel is installed", async () => {
    const exchange = unique("first-ack");
    const queue = unique("first-ack");
    defer(await makeExchangeAndQueue(exchange, queue));
    const topic = openRabbitTopic({ serverUrl: SERVER_URL }, exchange);
    later(topic);
    await topic.send({ body: "first" });
    const driver = rabbitSubscriptionDriver({ serverUrl: SERVER_URL }, queue);
    const signal = AbortSignal.timeout(5000);
    let got = await driver.receiveBatch(1, signal);
    while (got.length === 0) got = await driver.receiveBatch(1, signal);
    await driver.sendAcks([got[0]?.ackId]); // at once: before the fix, its channel was not yet current, and it was dropped
    await sleep(200);
    await driver.close(AbortSignal.timeout(5000));
    await sleep(200);
    await withAdmin(async (ch) => expect((await ch.checkQueue(queue)).messageCount).toBe(0));
  });

  it("keeps the channel open when acks complete a run over a delivery nacked before", async () => {
    const exchange = unique("nack-then-ack");
    const queue = unique("nack-then-ack");
    defer(await makeExchangeAndQueue(exchange, queue));
    const topic = openRabbitTopic({ serverUrl: SERVER_URL }, exchange);
    later(topic);
    await topic.send({ body: "a" });
    await topic.send({ body: "b" });
    const driver = rabbitSubscriptionDriver({ serverUrl: SERVER_URL }, queue);
    defer(() => driver.close(AbortSignal.timeout(5000)));
    const signal = AbortSignal.timeout(5000);
    const got = [];
    while (got.length < 2) got.push(...(await driver.receiveBatch(2, signal)));
    const channel = driver.native() as Channel;
    let closed = false;
    channel.once("close", () => {
      closed = true;
    });
    await driver.sendNacks([got[1]?.ackId]); // b back to the queue
    await driver.sendAcks([got[0]?.ackId]); // a: a run over 1–2, whose multiple ack must not name 2
    await sleep(300);
    expect(closed).toBe(false);
    const again = await driver.receiveBatch(1, signal);
    expect(again.map((m) => new TextDecoder().decode(m.body))).toEqual(["b"]);
    await driver.sendAcks([again[0]?.ackId]);
    await sleep(200);
    await withAdmin(async (ch) => expect((await ch.checkQueue(queue)).messageCount).toBe(0));
  });

  it("coalesces acks and never acks a delivery that is still pending", async () => {
    const exchange = unique("coalesce");
    const queue = unique("coalesce");
    defer(await makeExchangeAndQueue(exchange, queue));
    const topic = openRabbitTopic({ serverUrl: SERVER_URL }, exchange);
    const subscription = openRabbitSubscription({ serverUrl: SERVER_URL }, queue);
    later(topic);
    await Promise.all(Array.from({ length: 50 }, (_, i) => topic.send({ body: `m${i}` })));
    const messages = [];
    for (let i = 0; i < 50; i++) messages.push(await subscription.receive({ signal: AbortSignal.timeout(5000) }));
    const channel = subscription.as<Channel>();
    const frames: boolean[] = [];
    const ack = channel.ack.bind(channel);
    channel.ack = (message, allUpTo) => {
      frames.push(allUpTo === true);
      ack(message, allUpTo);
    };
    for (const [i, message] of messages.entries()) if (i !== 20) message.ack();
    await sleep(300);
    // Acks of the first 20 went in a frame or two (the first ack goes alone, at once); the 29 beyond the pending
    // 21st delivery, one by one.
    expect(frames.filter((multiple) => multiple).length).toBeGreaterThanOrEqual(1);
    expect(frames.filter((multiple) => !multiple)).toHaveLength(29);
    expect(frames.length).toBeLessThanOrEqual(31);
    await withAdmin(async (ch) => expect((await ch.checkQueue(queue)).messageCount).toBe(0));
    await subscription.shutdown();
    // The pending one was not acked: the broker has it back.
    await sleep(200);
    await withAdmin(async (ch) => expect((await ch.checkQueue(queue)).messageCount).toBe(1));
  });
});

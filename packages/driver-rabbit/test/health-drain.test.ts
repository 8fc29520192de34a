/**
 * Health during a shutdown, against the real broker: `draining` from the
 * moment shutdown starts until it ends, then `closed`, and the JSON a
 * /health endpoint writes meanwhile.
 */
import { type Health, openSubscription, openTopic } from "@portable-pubsub/core";
import { describe, expect, it } from "vitest";
import { cleanupAfterEach, makeExchangeAndQueue, SERVER_URL, skipWithoutBroker, unique } from "./support.js";

const { defer } = cleanupAfterEach();

describe.skipIf(skipWithoutBroker)("rabbit health while shutting down", () => {
  it("goes ready → draining → closed on topic and subscription, draining while a handler holds a message", async () => {
    const exchange = unique("drain");
    const queue = unique("drain");
    defer(await makeExchangeAndQueue(exchange, queue));
    process.env.RABBIT_SERVER_URL = SERVER_URL;
    let topic: Awaited<ReturnType<typeof openTopic>>;
    let sub: Awaited<ReturnType<typeof openSubscription>>;
    try {
      topic = await openTopic(`rabbit://${exchange}`);
      sub = await openSubscription(`rabbit://${queue}`);
    } finally {
      delete process.env.RABBIT_SERVER_URL;
    }
    const topicSeen: Health["state"][] = [];
    const subSeen: Health["state"][] = [];
    topic.onHealthChange((h) => topicSeen.push(h.state));
    sub.onHealthChange((h) => subSeen.push(h.state));
    expect([topic.health.state, sub.health.state]).toEqual(["ready", "ready"]);

    await topic.send({ body: "held order" });
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started: () => void = () => {};
    const handling = new Promise<void>((resolve) => {
      started = resolve;
    });
    const handled: string[] = [];
    const processing = sub.process(async (message) => {
      started();
      await held;
      handled.push(message.text());
    });
    await handling;

    const topicShutdown = topic.shutdown();
    const subShutdown = sub.shutdown();
    expect([topic.health.state, sub.health.state]).toEqual(["draining", "draining"]);
    await topicShutdown;
    expect(topic.health.state).toBe("closed");
    // The handler still holds its message: the subscription is still draining, and says so in JSON.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const server = new URL(SERVER_URL);
    expect(JSON.parse(JSON.stringify(sub.health))).toEqual({
      state: "draining",
      since: sub.health.since.toISOString(),
      blocked: null,
      endpoint: `amqp://***@${server.host}`,
      lastError: null,
    });
    release();
    await Promise.all([subShutdown, processing]);
    expect(handled).toEqual(["held order"]);
    expect(topicSeen).toEqual(["draining", "closed"]);
    expect(subSeen).toEqual(["draining", "closed"]);
  });
});

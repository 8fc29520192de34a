/**
 * A dead-letter topic of another scheme than the subscription's: messages
 * that fail on rabbit:// end in a redisstream:// stream, opened from its URL
 * by the same mux, confirmed there before the original is acked.
 */

import { randomUUID } from "node:crypto";
import { openSubscription, openTopic } from "@portable-pubsub/core";
import { delayQueueNames } from "@portable-pubsub/driver-rabbit";
import { afterAll, describe, expect, it } from "vitest";

process.env.RABBIT_SERVER_URL ??= "amqp://guest:guest@127.0.0.1:5672";
process.env.REDIS_SERVER_URL ??= "redis://127.0.0.1:6379";

interface AmqpChannel {
  deleteQueue(name: string): Promise<unknown>;
  deleteExchange(name: string): Promise<unknown>;
}
interface RedisClient {
  del(key: string): Promise<number>;
}

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

describe("dead letters across schemes", () => {
  it("sends rabbit:// failures to a redisstream:// topic after exactly maxAttempts", async () => {
    const id = randomUUID().slice(0, 8);
    const exchange = `dl-across-${id}`;
    const queue = `dl-across-q-${id}`;
    const stream = `dl-across-dead-${id}`;

    const deadLetters = await openSubscription(`redisstream://${stream}?group=ops`);
    const redis = deadLetters.as<RedisClient>();
    // Cleanups run last first: the stream is deleted while the client is still open.
    cleanups.push(
      () => deadLetters.shutdown(),
      () => redis.del(stream),
    );

    const topic = await openTopic(`rabbit://${exchange}?declare=true`);
    const sub = await openSubscription(`rabbit://${queue}?declare=true&exchange=${exchange}`, {
      redelivery: { maxAttempts: 2, initialDelayMs: 10, maxDelayMs: 20 },
      deadLetter: `redisstream://${stream}`,
    });
    const channel = topic.as<AmqpChannel>();
    cleanups.push(
      () => topic.shutdown(),
      () => channel.deleteExchange(exchange),
      async () => {
        for (const name of [queue, ...delayQueueNames(queue)]) await channel.deleteQueue(name);
      },
      () => sub.shutdown(),
    );

    const body = new Uint8Array([1, 2, 3, 0xff]);
    await topic.send({ body, metadata: { orderId: "42" } });
    const attempts: (number | undefined)[] = [];
    const processing = sub.process((message) => {
      attempts.push(message.deliveryAttempt);
      throw new Error("cannot bill order 42");
    });

    const dead = await deadLetters.receive({ signal: AbortSignal.timeout(15_000) });
    dead.ack();
    expect(Array.from(dead.body)).toEqual(Array.from(body));
    expect(dead.metadata.orderId).toBe("42");
    expect(dead.metadata["deadletter.attempts"]).toBe("2");
    expect(dead.metadata["deadletter.error"]).toBe("cannot bill order 42");
    // The subscription's URL as opened: the server (and its password) came from an option, not the URL.
    expect(dead.metadata["deadletter.source"]).toBe(`rabbit://${queue}?declare=true&exchange=${exchange}`);
    expect(dead.metadata["deadletter.source"]).not.toContain("guest");

    // The original was acked once the stream held the copy: nothing comes back, nothing more is dead-lettered.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await sub.shutdown();
    await processing;
    expect(attempts).toEqual([1, 2]);
    const more = await deadLetters.receive({ signal: AbortSignal.timeout(500) }).catch(() => undefined);
    expect(more).toBeUndefined();
  });
});

import { type Harness, runConformanceTests } from "@portable-pubsub/conformance";
import type { SubscriptionDriver } from "@portable-pubsub/core/driver";
import { ensureGroup, RedisSubscriptionDriver, RedisTopicDriver } from "@portable-pubsub/driver-redis";
import type { Redis } from "ioredis";
import { beforeAll, describe } from "vitest";
import { commandClient, REDIS_ADDRESS, readerClient, requireRedis, skipRedis, unique } from "./helpers.js";

const ackDeadlineMs = 1000;

/**
 * A harness on one Redis address: topics share one command client; each
 * subscription gets a reader connection of its own, as the driver requires.
 */
async function makeHarness(url: string): Promise<Harness> {
  const client = commandClient(url);
  const owned = new Set<Redis>();
  const leftovers: string[] = [];
  const subscriber = (stream: string, group: string): SubscriptionDriver => {
    const reader = readerClient(url);
    owned.add(reader);
    return new RedisSubscriptionDriver(client, reader, { stream, group }, { ackDeadlineMs, closeReader: true });
  };
  return {
    async createTopic(name) {
      const stream = unique(name);
      return {
        driver: new RedisTopicDriver(client, stream),
        id: stream,
        cleanup: async () => {
          await client.del(stream);
        },
      };
    },
    async makeNonexistentTopic() {
      return new RedisTopicDriver(client, unique("missing"), { create: false });
    },
    async createSubscription(topic, name) {
      const stream = topic.id as string;
      const group = unique(name);
      await ensureGroup(client, stream, group);
      return {
        driver: subscriber(stream, group),
        cleanup: async () => {
          await client.xgroup("DESTROY", stream, group).catch(() => {});
        },
        openConsumer: async () => subscriber(stream, group),
      };
    },
    async makeNonexistentSubscription() {
      const stream = unique("no-group");
      await client.xadd(stream, "*", "body", "x");
      leftovers.push(stream);
      const driver = subscriber(stream, "no-such-group");
      return Object.assign(driver, {});
    },
    async close() {
      // The streams made for missing groups are the harness's own: the shared server is left as found.
      if (leftovers.length > 0) await client.del(...leftovers).catch(() => {});
      for (const reader of owned) reader.disconnect();
      await client.quit().catch(() => client.disconnect());
    },
  };
}

describe.skipIf(skipRedis)("redisstream against Redis", () => {
  beforeAll(requireRedis);
  runConformanceTests(() => makeHarness(`redis://${REDIS_ADDRESS.host}:${REDIS_ADDRESS.port}`), {
    name: "redisstream",
    messagingSystem: "redis",
    canNack: true,
    guaranteedOrder: true,
    multipleSubscriptions: true,
    consumerGroups: true,
    ackDeadlineMs,
    native: {
      topic: (n) => typeof (n as Redis | undefined)?.xadd === "function",
      subscription: (n) => typeof (n as Redis | undefined)?.xack === "function",
      message: (n) =>
        typeof (n as { id?: unknown })?.id === "string" && Array.isArray((n as { fields?: unknown }).fields),
    },
    reconnect: {
      upstream: REDIS_ADDRESS,
      harness: (address) => makeHarness(`redis://${address.host}:${address.port}`),
      messages: 10_000,
    },
  });
});

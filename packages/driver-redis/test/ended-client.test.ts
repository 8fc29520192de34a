/**
 * ioredis ends a client for good when its connector is told to disconnect
 * while the client connects: a Sentinel client's failoverDetector does that
 * when it hears of a failover between two attempts to reach the master
 * (cluster-sentinel.test.ts hit it about one run in eight on a loaded
 * machine, and shutdown then waited for acks that could never go). Here the
 * same ioredis path is taken on the shared Redis: the connection drops, and
 * the connector is told to disconnect as the client starts to reconnect.
 */
import { openSubscription, openTopic } from "@portable-pubsub/core";
import "@portable-pubsub/driver-redis/register";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanupsAfterEach, commandClient, REDIS_URL, requireRedis, skipRedis, unique } from "./helpers.js";

/** Ends `client` as ioredis's failoverDetector does, and resolves once it has ended. */
async function endAsFailoverDetectorDoes(client: Redis): Promise<void> {
  const ended = new Promise((resolve) => client.once("end", resolve));
  client.once("connecting", () => (client as unknown as { connector: { disconnect(): void } }).connector.disconnect());
  client.stream.destroy();
  await ended;
}

describe.skipIf(skipRedis)("redisstream: a connection that ioredis ended by itself", () => {
  beforeAll(requireRedis);
  const admin = commandClient();
  const cleanups = cleanupsAfterEach();
  afterAll(() => admin.quit());

  it("is connected again: a send and an ack made after it ended go through", async () => {
    const name = unique("ended");
    cleanups.push(() => admin.del(name));
    const topic = await openTopic(`redisstream://${name}`, { serverUrl: REDIS_URL });
    const sub = await openSubscription(`redisstream://${name}?group=g`, { serverUrl: REDIS_URL });
    cleanups.push(
      () => topic.shutdown(),
      () => sub.shutdown(),
    );
    const client = topic.as<Redis>();
    expect(sub.as<Redis>()).toBe(client);

    await endAsFailoverDetectorDoes(client);
    expect(client.status).toBe("end");

    await topic.send({ body: "after the end" }, { signal: AbortSignal.timeout(10_000) });
    const message = await sub.receive({ signal: AbortSignal.timeout(10_000) });
    expect(message.text()).toBe("after the end");
    message.ack();
    await sub.shutdown({ signal: AbortSignal.timeout(10_000) });
    expect(await admin.xpending(name, "g")).toEqual([0, null, null, null]);
    expect(client.status).toBe("ready");
  });
});

/**
 * Issue 25, must 2: zero duplicate handler runs through redisstream://
 * client kills. The subscription's own two connections (commands, blocking
 * reads) are killed with CLIENT KILL ID, six times, while `process` runs 16
 * handlers with the Redis idempotency store (whose connection is spared):
 * replies and acks lost in the kills bring entries back, yet each id's
 * handler runs exactly once, and every id runs. Only this test's clients
 * are killed, by their ids: the shared Redis's other clients are left alone.
 */
import { DuplicateLog, expectEachIdRanOnce, runUnderFaults } from "@portable-pubsub/conformance";
import { openRedisSubscription, openRedisTopic, redisIdempotencyStore } from "@portable-pubsub/driver-redis";
import type { Redis } from "ioredis";
import { beforeAll, describe, it } from "vitest";
import {
  cleanupsAfterEach,
  commandClient,
  REDIS_URL,
  readerClient,
  requireRedis,
  skipRedis,
  unique,
} from "./helpers.js";

/** The store's keys on the shared Redis expire this long after the run, not a day later. */
const TEST_WINDOW_MS = 180_000;

describe.skipIf(skipRedis)("redisstream client kills with the idempotent consumer", () => {
  beforeAll(requireRedis);
  const cleanups = cleanupsAfterEach();

  it("runs each id's handler exactly once through 6 kills of the subscription's clients, concurrency 16", async () => {
    // Named, so that the kills find them in CLIENT LIST without a command on the blocked reader.
    const name = unique("idem-kills");
    const named = (client: Redis, suffix: string) => {
      client.options.connectionName = `${name}-${suffix}`;
      return client;
    };
    const clients: Redis[] = [
      commandClient(),
      named(commandClient(), "sub"),
      named(readerClient(), "reader"),
      commandClient(),
    ];
    const [topicClient, subClient, reader, admin] = clients as [Redis, Redis, Redis, Redis];
    const stream = unique("idem-kills");
    const group = unique("group");
    const store = redisIdempotencyStore({ serverUrl: REDIS_URL, keyPrefix: `${unique("idem")}:` });
    const log = new DuplicateLog();
    const topic = openRedisTopic(topicClient, stream);
    const subscription = await openRedisSubscription(subClient, stream, group, {
      ackDeadlineMs: 2000,
      reader,
      idempotency: { store, windowMs: TEST_WINDOW_MS },
      logger: log.logger,
    });
    cleanups.push(async () => {
      await topic.shutdown({ signal: AbortSignal.timeout(5000) }).catch(() => {});
      await subscription.shutdown({ signal: AbortSignal.timeout(5000) }).catch(() => {});
      await store.close?.();
      await admin.del(stream);
      for (const client of clients) client.disconnect();
    });
    /** Kills the subscription's connections as they are now (a reconnected client has a new id). */
    const kill = async () => {
      const list = String(await admin.client("LIST"));
      const ids = [...list.matchAll(/^id=(\d+) .*name=(\S+)/gm)].filter((m) => m[2]?.startsWith(name)).map((m) => m[1]);
      let killed = 0;
      for (const id of ids) killed += Number(await admin.client("KILL", "ID", String(id)));
      return killed > 0;
    };
    const result = await runUnderFaults({ topic, subscription, total: 3000, faults: 6, inject: kill, handlerMs: 5 });
    expectEachIdRanOnce(result, log, "redisstream idempotency");
  });
});

/**
 * Issue 25, must 2: zero duplicate handler runs through nats:// cuts. The
 * consumer's connection goes through conformance's FaultProxy and is cut six
 * times while `process` runs 16 handlers with the Redis idempotency store:
 * acks lost in the cuts bring their messages back after the ack wait, yet
 * each id's handler runs exactly once, and every id runs.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { DuplicateLog, expectEachIdRanOnce, FaultProxy, runUnderFaults } from "@portable-pubsub/conformance";
import { openNatsSubscription, openNatsTopic } from "@portable-pubsub/driver-nats";
import { redisIdempotencyStore } from "@portable-pubsub/driver-redis";
import { afterEach, beforeAll, describe, it } from "vitest";
import { admin, NATS_ADDRESS, natsConnection, requireNats, skipNats, streamWithConsumer, unique } from "./helpers.js";

/** The store's keys on the shared Redis expire this long after the run, not a day later. */
const TEST_WINDOW_MS = 180_000;

const REDIS_URL = process.env.REDIS_SERVER_URL ?? "redis://127.0.0.1:6379";

describe.skipIf(skipNats)("nats cuts with the idempotent consumer", () => {
  beforeAll(requireNats);
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  });

  it("runs each id's handler exactly once through 6 consumer connection cuts, concurrency 16, Redis store", async () => {
    const { nc: adminNc, jsm } = await admin();
    cleanups.push(() => adminNc.close());
    const proxy = await FaultProxy.start({ upstream: NATS_ADDRESS });
    cleanups.push(() => proxy.close());
    const stream = await streamWithConsumer(jsm, "idem-faults", 2000);
    cleanups.push(() => jsm.streams.delete(stream));
    const connections: NatsConnection[] = [await natsConnection(), await natsConnection(`nats://${proxy.address}`)];
    cleanups.push(async () => {
      for (const nc of connections) await nc.close().catch(() => {});
    });
    const [topicNc, subNc] = connections as [NatsConnection, NatsConnection];
    const store = redisIdempotencyStore({ serverUrl: REDIS_URL, keyPrefix: `${unique("idem")}:` });
    cleanups.push(async () => store.close?.());
    const log = new DuplicateLog();
    const topic = openNatsTopic(topicNc, stream);
    const subscription = await openNatsSubscription(subNc, stream, "c", {
      idempotency: { store, windowMs: TEST_WINDOW_MS },
      logger: log.logger,
    });
    cleanups.push(async () => {
      await topic.shutdown({ signal: AbortSignal.timeout(5000) }).catch(() => {});
      await subscription.shutdown({ signal: AbortSignal.timeout(5000) }).catch(() => {});
    });
    const cut = () => proxy.cut() > 0;
    const result = await runUnderFaults({ topic, subscription, total: 4000, faults: 6, inject: cut });
    expectEachIdRanOnce(result, log, "nats idempotency");
  });
});

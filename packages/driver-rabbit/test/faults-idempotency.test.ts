/**
 * Issue 25, must 2: zero duplicate handler runs through rabbit connection
 * cuts. The consumer's connection goes through conformance's FaultProxy and
 * is cut six times while `process` runs 16 handlers at once with the Redis
 * idempotency store: acks in flight are lost and their messages redelivered,
 * yet each id's handler runs exactly once, and every id runs.
 */
import { DuplicateLog, expectEachIdRanOnce, FaultProxy, runUnderFaults } from "@portable-pubsub/conformance";
import { openRabbitSubscription, openRabbitTopic } from "@portable-pubsub/driver-rabbit";
import { redisIdempotencyStore } from "@portable-pubsub/driver-redis";
import { describe, it } from "vitest";
import { BROKER, cleanupAfterEach, makeExchangeAndQueue, SERVER_URL, skipWithoutBroker, unique } from "./support.js";

/** The store's keys on the shared Redis expire this long after the run, not a day later. */
const TEST_WINDOW_MS = 180_000;

const { defer, shutdownLater } = cleanupAfterEach();
const REDIS_URL = process.env.REDIS_SERVER_URL ?? "redis://127.0.0.1:6379";

describe.skipIf(skipWithoutBroker)("rabbit faults with the idempotent consumer", () => {
  it("runs each id's handler exactly once through 6 consumer connection cuts, concurrency 16, Redis store", async () => {
    const proxy = await FaultProxy.start({ upstream: BROKER });
    defer(() => proxy.close());
    const exchange = unique("idem-cuts");
    const queue = unique("idem-cuts");
    defer(await makeExchangeAndQueue(exchange, queue));
    const store = redisIdempotencyStore({ serverUrl: REDIS_URL, keyPrefix: `${unique("idem")}:` });
    defer(async () => store.close?.());
    const log = new DuplicateLog();
    const topic = openRabbitTopic({ serverUrl: SERVER_URL }, exchange);
    const subscription = openRabbitSubscription(
      { serverUrl: `amqp://guest:guest@${proxy.address}`, heartbeat: 1, connectTimeoutMs: 3000 },
      queue,
      { prefetch: 200, idempotency: { store, windowMs: TEST_WINDOW_MS }, logger: log.logger },
    );
    shutdownLater(topic, subscription);
    const cut = () => proxy.cut() > 0;
    const result = await runUnderFaults({ topic, subscription, total: 3000, faults: 6, inject: cut });
    expectEachIdRanOnce(result, log, "rabbit idempotency");
  });
});

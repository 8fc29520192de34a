/**
 * Issue 25, must 2, on a real three-node RabbitMQ cluster (harness:
 * cluster.ts): the node that a consumer's connection is on is killed with
 * SIGKILL while `process` runs 16 handlers on a quorum queue with the Redis
 * idempotency store; the consumer fails over to another node and gets
 * redelivered what it held, yet each id's handler runs exactly once, and
 * every id runs. The shared broker on 5672 is not involved; the shared Redis
 * holds the claims. Without the cluster (RabbitMQ cannot start here in
 * time), the file skips, or fails with CI=true.
 */
import { DuplicateLog, expectEachIdRanOnce, runUnderFaults } from "@portable-pubsub/conformance";
import { connectRabbit, openRabbitSubscription, openRabbitTopic } from "@portable-pubsub/driver-rabbit";
import { redisIdempotencyStore } from "@portable-pubsub/driver-redis";
import { afterAll, beforeAll, describe, it } from "vitest";
import { type ClusterNode, RabbitCluster } from "./cluster.js";
import { unique } from "./support.js";

/** The store's keys on the shared Redis expire this long after the run, not a day later. */
const TEST_WINDOW_MS = 180_000;

const REDIS_URL = process.env.REDIS_SERVER_URL ?? "redis://127.0.0.1:6379";
let cluster: RabbitCluster | undefined;
let startFailure: unknown;
try {
  cluster = await RabbitCluster.start(3, 120_000);
} catch (err) {
  startFailure = err;
}
const the = () => cluster as RabbitCluster;

describe.skipIf(!cluster && !process.env.CI)("the idempotent consumer on a three-node rabbit cluster", () => {
  beforeAll(() => {
    if (!cluster) throw new Error(`the three-node RabbitMQ cluster did not start: ${String(startFailure)}`);
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it("runs each id's handler exactly once when the consumer's node is killed with SIGKILL (quorum queue, Redis store)", async () => {
    const serverUrl = the()
      .nodes.map((n) => n.url)
      .join(",");
    const settings = { serverUrl, heartbeat: 5, connectTimeoutMs: 10_000 };
    const pub = connectRabbit(settings);
    const sub = connectRabbit(settings);
    await Promise.all([pub.model(), sub.model()]);
    const exchange = unique("idem-kill");
    const queue = unique("idem-kill");
    const store = redisIdempotencyStore({ serverUrl: REDIS_URL, keyPrefix: `${unique("idem")}:` });
    const log = new DuplicateLog();
    const subscription = openRabbitSubscription(sub, queue, {
      declare: { queueType: "quorum", exchange },
      idempotency: { store, windowMs: TEST_WINDOW_MS },
      logger: log.logger,
    });
    const topic = openRabbitTopic(pub, exchange, { declare: true });
    try {
      await Promise.all([subscription.ready({ signal: AbortSignal.timeout(20_000) }), topic.ready()]);
      const victim = the().nodes.find((n) => sub.node?.server?.endsWith(`:${n.port}`)) as ClusterNode;
      const kill = async () => {
        await the().killNode(victim);
        return true;
      };
      const result = await runUnderFaults({ topic, subscription, total: 3000, faults: 1, inject: kill });
      expectEachIdRanOnce(result, log, "rabbit cluster kill -9 idempotency", 1);
    } finally {
      await Promise.all([
        topic.shutdown({ signal: AbortSignal.timeout(10_000) }).catch(() => {}),
        subscription.shutdown({ signal: AbortSignal.timeout(10_000) }).catch(() => {}),
      ]);
      await Promise.all([pub.close(AbortSignal.timeout(5000)), sub.close(AbortSignal.timeout(5000))]);
      await store.close?.();
    }
  }, 180_000);
});

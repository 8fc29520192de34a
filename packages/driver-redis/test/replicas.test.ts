/**
 * `replicas=N` against the shared Redis, which has no replica: WAIT never
 * confirms, so a send is retried (NOREPLICAS, retryable) until its signal
 * fires, and the retries only wait again over the same connection: each
 * entry is in the stream once, however many attempts were made.
 */
import { ErrorCode, errorCode } from "@portable-pubsub/core";
import { openRedisTopic } from "@portable-pubsub/driver-redis";
import type { Redis } from "ioredis";
import { beforeAll, describe, expect, it } from "vitest";
import { cleanupsAfterEach, commandClient, requireRedis, skipRedis, unique } from "./helpers.js";

/** How many WAIT commands the server ran so far (INFO commandstats). */
async function waitCalls(redis: Redis): Promise<number> {
  const match = /cmdstat_wait:calls=(\d+)/.exec(await redis.info("commandstats"));
  return Number(match?.[1] ?? 0);
}

describe.skipIf(skipRedis)("redisstream replicas=N", () => {
  beforeAll(requireRedis);
  const cleanups = cleanupsAfterEach();

  it("retries a send WAIT does not confirm until its signal fires, adding each entry once", async () => {
    const direct = commandClient();
    const client = commandClient();
    const stream = unique("replicas");
    const topic = openRedisTopic(client, stream, {
      replicas: 1,
      replicasTimeoutMs: 100,
      retry: { initialDelayMs: 10, maxDelayMs: 50 },
      batching: { lingerMs: 20 },
    });
    cleanups.push(async () => {
      await topic.shutdown({ signal: AbortSignal.timeout(2000) }).catch(() => {});
      await direct.del(stream);
      direct.disconnect();
      client.disconnect();
    });
    expect(String(await direct.info("replication"))).toMatch(/connected_slaves:0/);
    const waitsBefore = await waitCalls(direct);
    const started = Date.now();
    const sends = Array.from({ length: 5 }, (_, i) =>
      topic.send({ body: `m${i}` }, { signal: AbortSignal.timeout(1500) }).then(
        () => "sent",
        (err: unknown) => errorCode(err),
      ),
    );
    const outcomes = await Promise.all(sends);
    expect(outcomes).toEqual(Array(5).fill(ErrorCode.DeadlineExceeded));
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    // Several attempts of 100 ms WAITs ran, and none added the batch again.
    expect((await waitCalls(direct)) - waitsBefore).toBeGreaterThanOrEqual(3);
    const entries = (await direct.xrange(stream, "-", "+")).map(([, fields]) => fields[fields.indexOf("body") + 1]);
    expect(entries.sort()).toEqual(["m0", "m1", "m2", "m3", "m4"]);
  });

  it("maps NOREPLICAS, the shortfall of a WAIT, to a retryable DeadlineExceeded with a hint", async () => {
    const { redisErrors } = await import("@portable-pubsub/driver-redis");
    const err = new Error(
      'NOREPLICAS send to redisstream stream "s": WAIT confirmed the writes on 0 of the 1 replicas',
    );
    expect(redisErrors.isRetryable(err)).toBe(true);
    expect(redisErrors.errorCode(err)).toBe(ErrorCode.DeadlineExceeded);
    expect(redisErrors.hint?.(err)).toMatch(/fewer replicas than the topic's replicas=N confirmed/);
  });
});

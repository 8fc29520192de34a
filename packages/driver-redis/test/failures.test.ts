/**
 * A message that kills its consumer on every delivery: Redis counts each
 * claim of the pending entry as a delivery, so the crash loop ends at
 * `maxDeliveries` with a dead letter, though no handler ever failed as such.
 */
import { fileURLToPath } from "node:url";
import { crashLoop, expectEndedAtMaxDeliveries } from "@portable-pubsub/conformance";
import { openSubscription, openTopic } from "@portable-pubsub/core";
import { beforeAll, describe, expect, it } from "vitest";
import { cleanupsAfterEach, commandClient, REDIS_URL, requireRedis, skipRedis, unique } from "./helpers.js";

const cleanups = cleanupsAfterEach();
// Dead-letter URLs are opened with no options of their own (and the crash loop's children inherit it).
process.env.REDIS_SERVER_URL = REDIS_URL;

describe.skipIf(skipRedis)("redisstream: a crash loop", () => {
  beforeAll(requireRedis);

  it("dead-letters a message that kills its consumer on every delivery once past maxDeliveries", async () => {
    const client = commandClient();
    const stream = unique("crash-loop");
    const deadLetterStream = unique("crash-loop-dl");
    cleanups.push(async () => {
      await client.del(stream, deadLetterStream);
      client.disconnect();
    });
    const serverUrl = REDIS_URL;
    // The group and the dead-letter group exist before anything is sent, and start at new entries.
    const url = `redisstream://${stream}?group=g&ackDeadline=300ms`;
    await (await openSubscription(url, { serverUrl })).shutdown();
    const deadLetters = await openSubscription(`redisstream://${deadLetterStream}?group=g`, { serverUrl });
    const topic = await openTopic(`redisstream://${stream}`, { serverUrl });
    cleanups.push(
      () => topic.shutdown(),
      () => deadLetters.shutdown(),
    );
    await topic.send({ body: "kills its consumer", metadata: { orderId: "7" } });

    const result = await crashLoop({
      url,
      options: {
        serverUrl,
        redelivery: { maxAttempts: 3, maxDeliveries: 4 },
        deadLetter: `redisstream://${deadLetterStream}`,
      },
      cwd: fileURLToPath(new URL("..", import.meta.url)),
      deadLetters,
    });
    // Four deliveries, each of which killed its process; the fifth is dead-lettered without its handler.
    expectEndedAtMaxDeliveries(result, 4);
    expect([result.deadLetter.text(), result.deadLetter.metadata.orderId]).toEqual(["kills its consumer", "7"]);
    // Acked once dead-lettered: nothing is pending in the group.
    expect(await client.xpending(stream, "g")).toEqual([0, null, null, null]);
  });
});

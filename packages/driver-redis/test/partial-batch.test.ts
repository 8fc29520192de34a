import { ErrorCode } from "@portable-pubsub/core";
import { RedisTopicDriver, redisErrors } from "@portable-pubsub/driver-redis";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { commandClient, unique } from "./helpers.js";
import { type OwnServer, startOwnServer } from "./own-server.js";

/**
 * One XADD of a pipeline failing while the others succeed: a server of the
 * test's own reaches its maxmemory part-way through a batch, so the XADDs
 * after that point get OOM (maxmemory-policy noeviction) and those before it
 * are in the stream. The portable layer retries a batch by calling sendBatch
 * again with the same message objects; this does that directly.
 */
describe("redisstream: an XADD that fails inside a pipeline", () => {
  let server: OwnServer;
  let client: Redis;
  beforeAll(async () => {
    server = await startOwnServer();
    client = commandClient(server.url);
  });
  afterAll(async () => {
    client?.disconnect();
    await server?.stop();
  });

  const KIB = 1024;
  const message = (i: number) => ({ body: new Uint8Array(128 * KIB).fill(i), metadata: { n: String(i) } });

  async function bodiesIn(stream: string): Promise<number[]> {
    const entries = (await server.admin.xrangeBuffer(stream, "-", "+")) as [Buffer, Buffer[]][];
    return entries.map(([, fields]) => (fields[1] as Buffer)[0] as number);
  }

  it("adds on retry only the entries Redis refused, never again those it took", async () => {
    const stream = unique("partial");
    const driver = new RedisTopicDriver(client, stream);
    const batch = Array.from({ length: 16 }, (_, i) => message(i));
    await server.admin.config("SET", "maxmemory-policy", "noeviction");
    const info = await server.admin.info("memory");
    const used = Number(/used_memory:(\d+)/.exec(info)?.[1]);
    await server.admin.config("SET", "maxmemory", String(used + 1024 * KIB));
    let first: unknown;
    try {
      first = await driver.sendBatch(batch).then(
        () => undefined,
        (err: unknown) => err,
      );
    } finally {
      await server.admin.config("SET", "maxmemory", "0");
    }
    expect(String(first)).toMatch(/^ReplyError: OOM /);
    expect(redisErrors.errorCode(first)).toBe(ErrorCode.ResourceExhausted);
    const took = await bodiesIn(stream);
    // Part of the batch went in, in order, before memory ran out.
    expect(took.length).toBeGreaterThan(0);
    expect(took.length).toBeLessThan(16);
    expect(took).toEqual(Array.from({ length: took.length }, (_, i) => i));

    await driver.sendBatch(batch);
    expect(await bodiesIn(stream)).toEqual(Array.from({ length: 16 }, (_, i) => i));
    await driver.close(AbortSignal.timeout(1000));
  });
});

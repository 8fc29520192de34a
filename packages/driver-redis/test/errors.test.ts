import { randomBytes } from "node:crypto";
import { ErrorCode, errorCode, openSubscription, openTopic } from "@portable-pubsub/core";
import { openRedisSubscription, openRedisTopic } from "@portable-pubsub/driver-redis";
import { beforeAll, describe, expect, it } from "vitest";
import {
  cleanupsAfterEach,
  commandClient,
  eventually,
  REDIS_ADDRESS,
  requireRedis,
  skipRedis,
  unique,
} from "./helpers.js";

const serverUrl = `redis://${REDIS_ADDRESS.host}:${REDIS_ADDRESS.port}`;

/** Redis error replies, provoked for real, and the portable codes they map to. */
describe.skipIf(skipRedis)("redisstream error mapping against Redis", () => {
  beforeAll(requireRedis);
  const admin = commandClient();
  const cleanups = cleanupsAfterEach();

  async function rejection(promise: Promise<unknown>) {
    const err = await promise.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err, "the call should have failed").toBeDefined();
    return { code: errorCode(err), message: (err as Error).message };
  }

  it("maps WRONGTYPE (the key is not a stream) to FailedPrecondition, for sends and group creation", async () => {
    const key = unique("string-key");
    await admin.set(key, "not a stream");
    cleanups.push(() => admin.del(key));
    const topic = await openTopic(`redisstream://${key}`, { serverUrl });
    cleanups.push(() => topic.shutdown());
    const send = await rejection(topic.send({ body: "x" }));
    expect(send.code).toBe(ErrorCode.FailedPrecondition);
    expect(send.message).toMatch(/WRONGTYPE.*not a stream; pick another stream name or delete the key/);
    const open = await rejection(openSubscription(`redisstream://${key}?group=g`, { serverUrl }));
    expect(open.code).toBe(ErrorCode.FailedPrecondition);
    expect(open.message).toMatch(/^open redisstream group "g" of stream ".+": WRONGTYPE.*not a stream/);
  });

  it("maps NOGROUP to NotFound when the group goes missing after the open", async () => {
    const stream = unique("no-group");
    cleanups.push(() => admin.del(stream));
    const sub = await openSubscription(`redisstream://${stream}?group=gone`, { serverUrl });
    cleanups.push(() => sub.shutdown());
    await admin.xgroup("DESTROY", stream, "gone");
    const receive = await rejection(sub.receive({ signal: AbortSignal.timeout(5000) }));
    expect(receive.code).toBe(ErrorCode.NotFound);
    expect(receive.message).toMatch(/NOGROUP.*open the subscription with declare=true/);
  });

  it("fails sends to a missing stream with NotFound when declare=false, and creates it otherwise", async () => {
    const stream = unique("missing");
    cleanups.push(() => admin.del(stream));
    // A URL open checks the stream (see open.test.ts); a direct constructor does not wait, so its sends meet NOMKSTREAM.
    const strict = openRedisTopic(commandClient(), stream, { create: false, closeClient: true });
    cleanups.push(() => strict.shutdown());
    const send = await rejection(strict.send({ body: "x" }));
    expect(send.code).toBe(ErrorCode.NotFound);
    expect(await admin.exists(stream)).toBe(0);
    const lenient = await openTopic(`redisstream://${stream}`, { serverUrl });
    cleanups.push(() => lenient.shutdown());
    await lenient.send({ body: "x" });
    expect(await admin.xlen(stream)).toBe(1);
    await strict.send({ body: "now it exists" });
    expect(await admin.xlen(stream)).toBe(2);
  });

  it("maps NOPERM to PermissionDenied and WRONGPASS too, never printing the password", async () => {
    const user = unique("user");
    const password = randomBytes(12).toString("hex");
    // May read streams but not add to them.
    await admin.call("ACL", "SETUSER", user, "on", `>${password}`, "~*", "&*", "+@all", "-xadd");
    cleanups.push(() => admin.call("ACL", "DELUSER", user));
    const stream = unique("acl");
    cleanups.push(() => admin.del(stream));
    const url = `redis://${user}:${password}@${REDIS_ADDRESS.host}:${REDIS_ADDRESS.port}`;
    const topic = await openTopic(`redisstream://${stream}`, { serverUrl: url });
    cleanups.push(() => topic.shutdown());
    const denied = await rejection(topic.send({ body: "x" }));
    expect(denied.code).toBe(ErrorCode.PermissionDenied);
    expect(denied.message).toMatch(/NOPERM.*ACL SETUSER/);
    expect(denied.message).not.toContain(password);

    const wrong = `redis://${user}:wrong-${password}@${REDIS_ADDRESS.host}:${REDIS_ADDRESS.port}`;
    // A refused login fails the open itself.
    const rejected = await rejection(openTopic(`redisstream://${stream}`, { serverUrl: wrong }));
    expect(rejected.code).toBe(ErrorCode.PermissionDenied);
    expect(rejected.message).toMatch(/WRONGPASS.*Redis rejected the user name or password/);
    expect(rejected.message).not.toContain(password);
  });

  it("maps OOM (maxmemory reached) to ResourceExhausted", async () => {
    const stream = unique("oom");
    cleanups.push(() => admin.del(stream));
    const topic = openRedisTopic(commandClient(), stream, { closeClient: true });
    cleanups.push(() => topic.shutdown());
    await topic.send({ body: "before" });
    const [, previous] = (await admin.config("GET", "maxmemory")) as [string, string];
    let result: { code: string; message: string };
    try {
      // Only for the length of one send: every write is refused while used memory exceeds 1 byte.
      await admin.config("SET", "maxmemory", "1");
      result = await rejection(topic.send({ body: "refused" }));
    } finally {
      await admin.config("SET", "maxmemory", previous);
    }
    expect(result.code).toBe(ErrorCode.ResourceExhausted);
    expect(result.message).toMatch(/OOM.*maxmemory/);
    expect(await admin.xlen(stream)).toBe(1);
  });

  it("treats a lost connection as retryable: a send waits for Redis and then succeeds", async () => {
    const stream = unique("offline");
    cleanups.push(() => admin.del(stream));
    const client = commandClient();
    const topic = openRedisTopic(client, stream, { closeClient: true });
    cleanups.push(() => topic.shutdown());
    await topic.send({ body: "first" });
    // Kill the client's connection from the server side: ioredis reconnects, the send goes through.
    const id = await client.client("ID");
    const sent = topic.send({ body: "second" });
    await admin.client("KILL", "ID", String(id));
    await sent;
    expect(await admin.xlen(stream)).toBeGreaterThanOrEqual(2);
    // The XADD may have been answered before the kill landed: then the reconnect is still under way.
    await eventually(() => topic.health.state === "ready", 5000, "health back to ready");
  });

  it("reports health while Redis is unreachable, and shuts down within its deadline", async () => {
    // A direct constructor does not wait for Redis (a URL open fails instead: see open.test.ts).
    const topic = openRedisTopic(commandClient("redis://127.0.0.1:1"), "s", { closeClient: true });
    const states: string[] = [];
    topic.onHealthChange((h) => states.push(h.state));
    const send = topic.send({ body: "x" }, { signal: AbortSignal.timeout(500) });
    expect(errorCode(await send.catch((e: unknown) => e))).toBe(ErrorCode.DeadlineExceeded);
    expect(["connecting", "reconnecting"]).toContain(topic.health.state);
    expect(topic.health.lastError?.message).toMatch(/ECONNREFUSED/);
    await topic.shutdown({ signal: AbortSignal.timeout(1000) }).catch(() => {});
    expect(topic.health.state).toBe("closed");
    const client = commandClient("redis://127.0.0.1:1");
    const sub = await openRedisSubscription(client, "s", "g", { create: false }).catch((e: unknown) => e);
    client.disconnect();
    expect(errorCode(sub)).toBe(ErrorCode.Unknown);
  });
});

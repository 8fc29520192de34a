import { ErrorCode, errorCode, openSubscription, openTopic } from "@portable-pubsub/core";
import { openSubscriptionURL, openTopicURL, streamName } from "@portable-pubsub/driver-redis";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { leakedSecret, rejectionOf } from "../../../test/leaks.js";
import { parseTopologyUrl } from "../src/sentinel-cluster.js";

/** The error of opening a topic on `serverUrl`: InvalidArgument, without `password` anywhere in it. */
async function rejected(serverUrl: string, password = "hunter2"): Promise<string> {
  const err = await rejectionOf(openTopic("redisstream://s", { serverUrl }));
  expect(errorCode(err), serverUrl).toBe(ErrorCode.InvalidArgument);
  expect(leakedSecret(err, [password]), serverUrl).toBeUndefined();
  return (err as Error).message;
}

/** URL and option validation: all of it happens before any connection is made, so no Redis is needed. */
describe("redisstream URLs and options", () => {
  const saved = process.env.REDIS_SERVER_URL;
  afterEach(() => {
    if (saved === undefined) delete process.env.REDIS_SERVER_URL;
    else process.env.REDIS_SERVER_URL = saved;
  });

  const server = { serverUrl: "redis://127.0.0.1:1" };

  async function failure(open: Promise<unknown>) {
    const err = await open.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err, "open should have failed").toBeDefined();
    return { code: errorCode(err), message: (err as Error).message };
  }

  it("reads the stream name from host and path, percent-decoded", () => {
    expect(streamName(new URL("redisstream://orders"))).toBe("orders");
    expect(streamName(new URL("redisstream:///app:orders"))).toBe("app:orders");
    expect(streamName(new URL("redisstream://app%3Aorders/eu"))).toBe("app:orders/eu");
    expect(() => streamName(new URL("redisstream://"))).toThrow(/names no stream/);
    expect(() => streamName(new URL("redisstream:///app%ZZorders"))).toThrow(/badly percent-encoded stream name/);
  });

  it("takes 1 and 0 for true and false", async () => {
    // The openers parse and build without waiting for Redis (the mux then awaits the driver's ready).
    const quickly = { signal: AbortSignal.timeout(1000) };
    const topic = await openTopicURL(new URL("redisstream://s?declare=1"), server, {});
    const sub = await openSubscriptionURL(new URL("redisstream://s?group=g&declare=0"), server, {});
    await Promise.all([topic.shutdown(quickly).catch(() => {}), sub.shutdown(quickly).catch(() => {})]);
  });

  it.each([
    ["redisstream://s?colour=red", /"colour" is not supported; supported: maxLen, trim, declare/],
    ["redisstream://s?maxLen=0", /"maxLen" is invalid: must be at least 1/],
    ["redisstream://s?maxLen=1.5", /"maxLen" is invalid: must be a whole number/],
    ["redisstream://s?maxLen=ten", /"maxLen" is invalid/],
    ["redisstream://s?trim=sometimes", /"trim" is invalid/],
    ["redisstream://s?declare=yes", /"declare" is invalid: must be true or false \(or 1 or 0\)/],
    ["redisstream://s?create=yes", /"create" is invalid: must be true or false \(or 1 or 0\)/],
    ["redisstream://s?create=1&declare=1", /"create" is the old name of "declare", and both are given/],
    ["redisstream://s?maxLen=1&maxLen=2", /"maxLen" is given twice/],
  ])("rejects topic URL %s with InvalidArgument", async (url, pattern) => {
    const { code, message } = await failure(openTopic(url, server));
    expect(code).toBe(ErrorCode.InvalidArgument);
    expect(message).toMatch(pattern);
  });

  it.each([
    [
      "redisstream://s",
      /^redisstream: redisstream:\/\/s: query parameter "group" is required: add it, as in redisstream:\/\/s\?group=NAME$/,
    ],
    ["redisstream://s?group=", /"group" is invalid: must not be empty/],
    ["redisstream://s?group=g&ackDeadline=soon", /"ackDeadline" is invalid: must be a positive duration/],
    ["redisstream://s?group=g&ackDeadline=0", /"ackDeadline" is invalid: must be a positive duration/],
    ["redisstream://s?group=g&block=5s", /"block" is invalid: must be a positive duration of at most 1000 ms/],
    ["redisstream://s?group=g&start=middle", /"start" is invalid/],
    ["redisstream://s?group=g&declare=false&create=false", /"create" is the old name of "declare", and both are given/],
    // Dead-lettering is the portable layer's (the Subscription's `deadLetter` option), not a URL parameter.
    ["redisstream://s?group=g&deadLetter=dlq", /"deadLetter" is not supported/],
    ["redisstream://s?group=g&maxDeliveries=3", /"maxDeliveries" is not supported/],
    ["redisstream://s?group=g&subscription=x", /"subscription" is not supported/],
  ])("rejects subscription URL %s with InvalidArgument", async (url, pattern) => {
    const { code, message } = await failure(openSubscription(url, server));
    expect(code).toBe(ErrorCode.InvalidArgument);
    expect(message).toMatch(pattern);
  });

  it("fails an open whose server refuses the connection at once, naming Redis and the server", async () => {
    const started = Date.now();
    const { code, message } = await failure(openSubscription("redisstream://s?group=g", server));
    expect(code).toBe(ErrorCode.Unknown);
    expect(message).toMatch(
      /^open redisstream group "g" of stream "s": cannot connect to Redis at redis:\/\/127\.0\.0\.1:1: connect ECONNREFUSED 127\.0\.0\.1:1; is Redis running and reachable there\?/,
    );
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("needs a server: REDIS_SERVER_URL or the serverUrl option", async () => {
    delete process.env.REDIS_SERVER_URL;
    const { code, message } = await failure(openTopic("redisstream://s"));
    expect(code).toBe(ErrorCode.InvalidArgument);
    expect(message).toMatch(/set REDIS_SERVER_URL .* or pass the serverUrl option/);
  });

  it("rejects a server URL of another scheme, without printing its password", async () => {
    const { code, message } = await failure(openTopic("redisstream://s", { serverUrl: "http://me:hunter2@host:6379" }));
    expect(code).toBe(ErrorCode.InvalidArgument);
    expect(message).toMatch(/must start with redis:\/\/ or rediss:\/\//);
    expect(message).not.toContain("hunter2");
    process.env.REDIS_SERVER_URL = "redis://me:hunter2@[bad";
    const fromEnv = await failure(openTopic("redisstream://s"));
    expect(fromEnv.code).toBe(ErrorCode.InvalidArgument);
    expect(fromEnv.message).toMatch(/the server URL is not a valid URL/);
    expect(fromEnv.message).not.toContain("hunter2");
  });

  it("rejects unknown and badly typed driver options", async () => {
    // @ts-expect-error: redisstream:// has no option "host"; this checks the run-time refusal too.
    const unknown = await failure(openTopic("redisstream://s", { ...server, host: "x" }));
    expect(unknown.code).toBe(ErrorCode.InvalidArgument);
    expect(unknown.message).toMatch(/"host" is not supported; supported: serverUrl, redisOptions, socketTimeout/);
    const badTimeout = await failure(openTopic("redisstream://s", { ...server, socketTimeout: "forever" }));
    expect(badTimeout.message).toMatch(/option "socketTimeout" is invalid: must be a positive duration/);
    const badOptions = await failure(openSubscriptionURL(new URL("redisstream://s?group=g"), { redisOptions: 5 }, {}));
    expect(badOptions.code).toBe(ErrorCode.InvalidArgument);
  });

  it("is found by the default URL mux under the redisstream scheme", async () => {
    const err = await failure(openTopic("redisstream://s?bogus=1", server));
    expect(err.message).toMatch(/^redisstream: /);
    expect(typeof openTopicURL).toBe("function");
  });
});

describe("redisstream server URLs: passwords with special characters never printed", () => {
  it("never echoes a URL that fails to parse, nor keeps Node's error (which holds it) as cause", async () => {
    expect(await rejected("redis://me:hunter2@[bad")).toMatch(/^redisstream: the server URL is not a valid URL/);
    expect(await rejected("redis://me:hun/ter2@h:99999", "hun/ter2")).toMatch(/is not a valid URL/);
    expect(await rejected("redis://me:hun ter2@h:99999", "hun ter2")).toMatch(/is not a valid URL/);
  });

  it("echoes nothing of scheme-less or single-slash URLs, which parse with the password in the path", async () => {
    expect(await rejected("me:hunter2@host:6379")).toMatch(
      /must start with redis:\/\/ or rediss:\/\/ \(TLS\); expected/,
    );
    expect(await rejected("redis:me:hunter2@h")).toMatch(/names no host after redis:\/\//);
    expect(await rejected("rediss:/me:hunter2@h")).toMatch(/names no host/);
    expect(await rejected("amqp://me:hunter2@h")).toMatch(/not amqp:\/\//);
  });

  it("rejects an @ after the host: a password whose / ? or # was not percent-encoded", async () => {
    for (const serverUrl of ["redis://me:12/hunter2@h", "redis://me:12?hunter2@h", "redis://me:12#hunter2@h"]) {
      expect(await rejected(serverUrl)).toMatch(/has an "@" after its host/);
    }
  });

  it("takes no query: a password there is rejected unprinted, and ioredis options cannot override the driver's", async () => {
    expect(await rejected("rediss://u@h?password=hunter2")).toMatch(
      /^redisstream: server URL rediss:\/\/\*\*\*@h has query parameter "password"; it takes none/,
    );
    expect(await rejected("redis://h?pass%77ord=hunter2")).toMatch(/query parameter "password"/);
    expect(await rejected("redis://127.0.0.1:1?maxRetriesPerRequest=0")).toMatch(
      /"maxRetriesPerRequest"; it takes none/,
    );
  });

  it("rejects bad percent-encoding in the user information, and a path that is not a db number", async () => {
    expect(await rejected("redis://me:hunter2%ZZ@h")).toMatch(/badly percent-encoded user information/);
    expect(await rejected("redis://m%E0%A4%Ar:hunter2@h")).toMatch(/badly percent-encoded user information/);
    expect(await rejected("redis://me:hunter2@h/zero")).toMatch(/a path that is not a db number/);
  });

  it("connects with TLS for REDISS:// in capitals too (ioredis alone would speak plain text)", async () => {
    const send = async (serverUrl: string) => {
      let topic: Awaited<ReturnType<typeof openTopic>>;
      try {
        // Over TLS the plain-text server never finishes the handshake: the open fails after connectTimeoutMs.
        topic = await openTopic("redisstream://pp-url-tls-case", { serverUrl, connectTimeoutMs: 1500 });
      } catch (err) {
        return errorCode(err);
      }
      try {
        await topic.send({ body: "x" }, { signal: AbortSignal.timeout(1500) });
        return "sent";
      } catch (err) {
        return errorCode(err);
      } finally {
        await topic.shutdown({ signal: AbortSignal.timeout(1000) }).catch(() => {});
      }
    };
    // The shared Redis speaks plain text: the same URL in capitals is sent over plain text, not over TLS.
    expect(await send("REDIS://127.0.0.1:6379")).toBe("sent");
    expect(await send("REDISS://127.0.0.1:6379")).toBe(ErrorCode.DeadlineExceeded);
    const admin = new Redis("redis://127.0.0.1:6379");
    await admin.del("pp-url-tls-case");
    admin.disconnect();
  });
});

describe("redis-sentinel:// and redis-cluster:// server URLs", () => {
  it("reads the Sentinels, the master name and the credentials, percent-decoded, with Sentinel's default port", () => {
    expect(parseTopologyUrl("redis-sentinel://me:p%40ss@10.0.0.1:26380,sentinel-b,[::1]:26390/my%20master")).toEqual({
      kind: "sentinel",
      sentinels: [
        { host: "10.0.0.1", port: 26380 },
        { host: "sentinel-b", port: 26379 },
        { host: "::1", port: 26390 },
      ],
      masterName: "my master",
      username: "me",
      password: "p@ss",
    });
    expect(parseTopologyUrl("REDIS-SENTINEL://s1:1/m")).toEqual({
      kind: "sentinel",
      sentinels: [{ host: "s1", port: 1 }],
      masterName: "m",
    });
  });

  it("reads the Cluster's nodes, with 6379 as the default port, and a password without a user", () => {
    expect(parseTopologyUrl("redis-cluster://:secret@n1:7000,n2")).toEqual({
      kind: "cluster",
      nodes: [
        { host: "n1", port: 7000 },
        { host: "n2", port: 6379 },
      ],
      password: "secret",
    });
  });

  it("rejects a missing master name, a Cluster path, bad hosts and ports, and a query, never echoing the password", async () => {
    expect(await rejected("redis-sentinel://me:hunter2@s1:26379")).toMatch(
      /^redisstream: server URL redis-sentinel:\/\/\*\*\*@s1:26379 names no master/,
    );
    expect(await rejected("redis-sentinel://me:hunter2@s1/a/b")).toMatch(/names no master/);
    expect(await rejected("redis-cluster://me:hunter2@n1/0")).toMatch(/a Redis Cluster has only db 0/);
    expect(await rejected("redis-cluster://me:hunter2@n1:99999")).toMatch(
      /a host that is not host\[:port\] \("n1:99999"\)/,
    );
    expect(await rejected("redis-cluster://me:hunter2@n1,,n2")).toMatch(
      /a host that is not host\[:port\] \(an empty one\)/,
    );
    expect(await rejected("redis-cluster://n1?password=hunter2")).toMatch(/takes no query/);
    expect(await rejected("redis-sentinel://me:hun/ter2@s1/m", "hun/ter2")).toMatch(
      /has an "@", "\?" or "#" after its hosts/,
    );
    expect(await rejected("redis-cluster://me:hunter2%ZZ@n1")).toMatch(/badly percent-encoded user information/);
  });

  it("reads the Sentinel and Cluster forms from REDIS_SERVER_URL too", async () => {
    const saved = process.env.REDIS_SERVER_URL;
    try {
      process.env.REDIS_SERVER_URL = "redis-sentinel://me:hunter2@s1:26379";
      const err = await rejectionOf(openTopic("redisstream://s"));
      expect(errorCode(err)).toBe(ErrorCode.InvalidArgument);
      expect((err as Error).message).toMatch(/redis-sentinel:\/\/\*\*\*@s1:26379 names no master/);
      expect(leakedSecret(err, ["hunter2"])).toBeUndefined();
    } finally {
      if (saved === undefined) delete process.env.REDIS_SERVER_URL;
      else process.env.REDIS_SERVER_URL = saved;
    }
  });

  it("names the new forms when a server URL has another scheme", async () => {
    expect(await rejected("http://me:hunter2@h")).toMatch(/redis-sentinel:\/\/.*\/MASTER_NAME or redis-cluster:\/\//);
  });

  it("fails an open whose Sentinels are all unreachable, naming them without the password", async () => {
    const err = await rejectionOf(
      openTopic("redisstream://s", { serverUrl: "redis-sentinel://me:hunter2@127.0.0.1:1/m", connectTimeoutMs: 1500 }),
    );
    expect(leakedSecret(err, ["hunter2"])).toBeUndefined();
    expect((err as Error).message).toMatch(
      /^open redisstream stream "s": All sentinels are unreachable\..*; no Sentinel of the redis-sentinel:\/\/ server URL answers/,
    );
  });
});

describe("replicas=N on a topic URL", () => {
  const server = { serverUrl: "redis://127.0.0.1:1" };

  it("takes a whole number of at least 1 and refuses others, naming the parameter", async () => {
    for (const bad of ["0", "-1", "1.5", "all"]) {
      const err = await rejectionOf(openTopicURL(new URL(`redisstream://s?replicas=${bad}`), server, {}));
      expect(errorCode(err), bad).toBe(ErrorCode.InvalidArgument);
      expect((err as Error).message).toMatch(/"replicas"/);
    }
    const topic = await openTopicURL(new URL("redisstream://s?replicas=2"), server, {});
    await topic.shutdown({ signal: AbortSignal.timeout(1000) }).catch(() => {});
  });
});

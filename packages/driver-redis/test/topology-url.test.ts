/**
 * redis-sentinel:// and redis-cluster:// server URLs, and the topic's
 * replicas=N: parsed before any connection is made, so no Redis is needed.
 * No message shows the password.
 */
import { ErrorCode, errorCode, openTopic } from "@portable-pubsub/core";
import { openTopicURL } from "@portable-pubsub/driver-redis";
import { describe, expect, it } from "vitest";
import { leakedSecret, rejectionOf } from "../../../test/leaks.js";
import { parseTopologyUrl } from "../src/topology.js";

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

  /** The error of opening a topic on `serverUrl`: InvalidArgument, without `password` anywhere in it. */
  const rejected = async (serverUrl: string, password = "hunter2") => {
    const err = await rejectionOf(openTopic("redisstream://s", { serverUrl }));
    expect(errorCode(err), serverUrl).toBe(ErrorCode.InvalidArgument);
    expect(leakedSecret(err, [password]), serverUrl).toBeUndefined();
    return (err as Error).message;
  };

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

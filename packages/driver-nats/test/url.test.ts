import { ErrorCode, type LogEvent, openSubscription, openTopic, PubSubError } from "@portable-pubsub/core";
import { parseServerUrls, resolveServers, streamNameFor } from "@portable-pubsub/driver-nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { admin, NATS_URL, requireNats, skipNats, unique } from "./helpers.js";

async function invalid(work: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof work === "function" ? work() : work);
  } catch (err) {
    expect(err).toBeInstanceOf(PubSubError);
    expect((err as PubSubError).code).toBe(ErrorCode.InvalidArgument);
    return (err as PubSubError).message;
  }
  throw new Error("expected InvalidArgument");
}

describe("nats server URLs", () => {
  it("takes one or several comma-separated URLs, with credentials apart", () => {
    expect(parseServerUrls("nats://127.0.0.1:4222")).toEqual({
      servers: ["127.0.0.1:4222"],
      tls: false,
      display: "nats://127.0.0.1:4222",
    });
    expect(parseServerUrls(" nats://a:1, b , nats://u:p%40ss@c:3 ")).toEqual({
      servers: ["a:1", "b:4222", "c:3"],
      user: "u",
      pass: "p@ss",
      tls: false,
      display: "nats://a:1,nats://b:4222,nats://c:3",
    });
    expect(parseServerUrls("nats://s3cr3t-token@h")).toMatchObject({ token: "s3cr3t-token", servers: ["h:4222"] });
    expect(parseServerUrls("tls://h:4443")).toMatchObject({ tls: true, display: "tls://h:4443" });
  });

  it("rejects what nats.js would misread, naming no credentials", async () => {
    expect(await invalid(() => parseServerUrls("redis://u:hunter2@h"))).toBe(
      'nats: the server URL must start with nats:// or tls://, not redis://; expected nats://[user:password@]host[:port] or tls://…, several separated by commas, with "%", "/", "?", "#", "@" and "," in a user name or password percent-encoded',
    );
    const query = await invalid(() => parseServerUrls("nats://u:hunter2@h:4222/?x=1"));
    expect(query).toMatch(/^nats: the server URL nats:\/\/\*\*\*@h:4222 has a path, query or fragment/);
    expect(query).not.toContain("hunter2");
    expect(await invalid(() => parseServerUrls("nats://u:%zz@h"))).toMatch(
      /^nats: the server URL has a badly percent-encoded password/,
    );
  });

  it("names the bad entry of a list by its place, shown without its password", async () => {
    expect(await invalid(() => parseServerUrls("nats://a,,nats://b"))).toMatch(/^nats: server URL 2 of 3 is empty;/);
    const broken = await invalid(() => parseServerUrls("nats://a:1,nats://u:hunter2@b:99999"));
    expect(broken).toMatch(/^nats: server URL 2 of 2 is not a valid URL;/);
    expect(broken).not.toContain("hunter2");
    // An unencoded "/" or "?" cuts the password: the entry no longer parses, and nothing of it is shown.
    for (const cut of ["nats://user:S3cr/et@h", "nats://user:S3cr?et@h", "nats://user:S3cr#et@h"]) {
      const message = await invalid(() => parseServerUrls(`nats://a,${cut}`));
      expect(message).toMatch(/^nats: server URL 2 of 2 /);
      expect(message).not.toMatch(/S3cr|et@/);
    }
    expect(await invalid(() => parseServerUrls("nats://a,amqp://b,nats://c"))).toMatch(
      /^nats: server URL 2 of 3 must start with nats:\/\/ or tls:\/\/, not amqp:\/\//,
    );
    expect(await invalid(() => parseServerUrls("nats://a,nats://b:1/path"))).toMatch(
      /^nats: server URL 2 of 2 nats:\/\/b:1 has a path, query or fragment/,
    );
    expect(await invalid(() => parseServerUrls("nats://a:x@h1,nats://a:y@h2"))).toMatch(
      /^nats: server URL 2 of 2 nats:\/\/\*\*\*@h2 carries other credentials than the one before it/,
    );
    expect(await invalid(() => parseServerUrls("nats://a,tls://b"))).toMatch(
      /^nats: server URL 2 of 2 tls:\/\/b is tls:\/\/ and the ones before it are not; use one scheme for all$/,
    );
    // An unencoded "?" in a password: nats://u:123?x@h reads as host u, port 123 (the password's start), query ?x@h.
    const split = await invalid(() => parseServerUrls("nats://b,nats://u:123?sec@h"));
    expect(split).toMatch(/^nats: server URL 2 of 2 has an "@" after its host, so part of its password was read/);
    expect(split).not.toContain("123");
    expect(split).not.toContain("sec");
  });

  it("reads NATS_SERVER_URL when no serverUrl option is given", async () => {
    const saved = process.env.NATS_SERVER_URL;
    try {
      process.env.NATS_SERVER_URL = "nats://env-host:4000";
      expect(resolveServers(undefined).servers).toEqual(["env-host:4000"]);
      expect(resolveServers("nats://opt:1").servers).toEqual(["opt:1"]);
      delete process.env.NATS_SERVER_URL;
      expect(await invalid(() => resolveServers(undefined))).toBe(
        "nats: no NATS server; set NATS_SERVER_URL (such as nats://localhost:4222) or pass the serverUrl option",
      );
    } finally {
      if (saved === undefined) delete process.env.NATS_SERVER_URL;
      else process.env.NATS_SERVER_URL = saved;
    }
  });
});

describe("nats:// query parameters and options", () => {
  const serverUrl = "nats://127.0.0.1:1"; // never reached: validation comes first
  it("rejects unknown, misplaced and malformed parameters with InvalidArgument", async () => {
    expect(await invalid(openTopic("nats://orders?consumer=x", { serverUrl }))).toMatch(
      /query parameter "consumer" is not supported; supported: declare, stream/,
    );
    expect(await invalid(openTopic("nats://orders?stream=S", { serverUrl }))).toMatch(
      /stream names the stream declare=true creates; add declare=true/,
    );
    expect(await invalid(openTopic("nats://orders?declare=maybe", { serverUrl }))).toMatch(/declare/);
    expect(await invalid(openTopic("nats://orders?replicas=3", { serverUrl }))).toMatch(
      /replicas sets the replicas of the stream declare=true creates; add declare=true/,
    );
    for (const bad of ["0", "6", "2.5", "three"]) {
      expect(await invalid(openTopic(`nats://orders?declare=true&replicas=${bad}`, { serverUrl }))).toMatch(
        /query parameter "replicas" is invalid/,
      );
    }
    expect(await invalid(openSubscription("nats://ORDERS?consumer=c&replicas=3", { serverUrl }))).toMatch(
      /replicas shapes the stream or consumer declare=true creates; add declare=true/,
    );
    expect(await invalid(openTopic("nats:///orders.*", { serverUrl }))).toMatch(/is not a subject one can publish to/);
    expect(await invalid(openSubscription("nats://ORDERS", { serverUrl }))).toMatch(
      /query parameter "consumer" is required: add it, as in nats:\/\/ORDERS\?consumer=NAME$/,
    );
    expect(await invalid(openSubscription("nats://ORDERS?consumer=c&ackDeadline=5s", { serverUrl }))).toMatch(
      /ackDeadline shapes the stream or consumer declare=true creates; add declare=true/,
    );
    expect(await invalid(openSubscription("nats://ORDERS?consumer=c&start=all", { serverUrl }))).toMatch(
      /start shapes the stream or consumer declare=true creates; add declare=true/,
    );
    expect(
      await invalid(openSubscription("nats://ORDERS?consumer=c&declare=true&ackWait=5s&ackDeadline=5s", { serverUrl })),
    ).toMatch(
      /query parameter "ackWait" is the old name of "ackDeadline", and both are given; give "ackDeadline" alone/,
    );
    expect(
      await invalid(openSubscription("nats://ORDERS?consumer=c&declare=true&start=new&deliver=new", { serverUrl })),
    ).toMatch(/query parameter "deliver" is the old name of "start", and both are given; give "start" alone/);
    expect(
      await invalid(openSubscription("nats://ORDERS?consumer=c&declare=true&deliver=last", { serverUrl })),
    ).toMatch(/query parameter "deliver" is invalid/);
    expect(await invalid(openSubscription("nats://ORDERS?consumer=c&prefetch=0", { serverUrl }))).toMatch(/prefetch/);
    // The redelivery delay and the attempts limit are the portable `redelivery` option's, not the URL's.
    for (const gone of ["nakDelay=5s", "maxDeliver=4"]) {
      expect(await invalid(openSubscription(`nats://ORDERS?consumer=c&declare=true&${gone}`, { serverUrl }))).toMatch(
        `query parameter "${gone.split("=")[0]}" is not supported`,
      );
    }
    expect(await invalid(openSubscription("nats://orders.eu?consumer=c", { serverUrl }))).toMatch(
      /"orders.eu" is not a stream name/,
    );
    // @ts-expect-error: socketTimeout is redisstream's; this checks the run-time refusal too.
    expect(await invalid(openTopic("nats://orders", { serverUrl, socketTimeout: "5s" }))).toMatch(/socketTimeout/);
  });

  it("derives a stream name from a subject", () => {
    expect(streamNameFor("orders.eu.created")).toBe("orders_eu_created");
  });
});

describe.skipIf(skipNats)("nats:// declare=true against the server", () => {
  beforeAll(requireNats);
  let done: () => Promise<void> = async () => {};
  afterAll(async () => done());

  it("creates a missing stream covering the subject, and a missing consumer with the URL's settings", async () => {
    const { nc, jsm } = await admin();
    const name = unique("declare");
    const subject = `${name}.created`;
    done = async () => {
      await jsm.streams.delete(name).catch(() => {});
      await jsm.streams.delete(streamNameFor(subject)).catch(() => {});
      await nc.close();
    };
    const topic = await openTopic(`nats://${subject}?declare=true`, { serverUrl: NATS_URL });
    expect((await jsm.streams.info(streamNameFor(subject))).config.subjects).toEqual([subject]);
    await topic.shutdown();
    await jsm.streams.delete(streamNameFor(subject));
    // Another subject, a stream named by the subscription, a consumer with ack wait and most pending acks.
    const sub = await openSubscription(
      `nats://${name}?consumer=workers&declare=true&subject=${name}.>&ackDeadline=7s&maxAckPending=50&start=new`,
      { serverUrl: NATS_URL },
    );
    const stream = await jsm.streams.info(name);
    expect(stream.config.subjects).toEqual([`${name}.>`]);
    const consumer = await jsm.consumers.info(name, "workers");
    expect(consumer.config).toMatchObject({
      durable_name: "workers",
      ack_policy: "explicit",
      ack_wait: 7_000_000_000,
      max_ack_pending: 50,
      deliver_policy: "new",
    });
    expect(consumer.config.deliver_subject).toBeUndefined();
    await sub.shutdown();
    // Opening again finds both and changes nothing.
    const again = await openSubscription(`nats://${name}?consumer=workers&declare=true&ackDeadline=1s`, {
      serverUrl: NATS_URL,
    });
    expect((await jsm.consumers.info(name, "workers")).config.ack_wait).toBe(7_000_000_000);
    await again.shutdown();
  });

  it("takes the old names ackWait and deliver with the same result, and tells the logger once per old name", async () => {
    const { nc, jsm } = await admin();
    const [oldNames, newNames] = [unique("old-names"), unique("new-names")];
    const previous = done;
    done = async () => {
      await previous();
      for (const stream of [oldNames, newNames]) await jsm.streams.delete(stream).catch(() => {});
      await nc.close();
    };
    const events: LogEvent[] = [];
    const logger = { info: () => {}, warn: (e: LogEvent) => events.push(e), error: () => {} };
    const opened = [
      await openSubscription(`nats://${oldNames}?consumer=a&declare=true&ackWait=3s&deliver=new`, {
        serverUrl: NATS_URL,
        logger,
      }),
      await openSubscription(`nats://${oldNames}?consumer=b&declare=true&ackWait=3s&deliver=new`, {
        serverUrl: NATS_URL,
        logger,
      }),
      await openSubscription(`nats://${newNames}?consumer=a&declare=true&ackDeadline=3s&start=new`, {
        serverUrl: NATS_URL,
        logger,
      }),
    ];
    const settings = async (stream: string, consumer: string) => {
      const { ack_wait, deliver_policy } = (await jsm.consumers.info(stream, consumer)).config;
      return { ack_wait, deliver_policy };
    };
    expect(await settings(oldNames, "a")).toEqual({ ack_wait: 3_000_000_000, deliver_policy: "new" });
    expect(await settings(oldNames, "b")).toEqual(await settings(newNames, "a"));
    expect(events.map(({ event, parameter, replacement }) => [event, parameter, replacement])).toEqual([
      ["pubsub.deprecated_parameter", "ackWait", "ackDeadline"],
      ["pubsub.deprecated_parameter", "deliver", "start"],
    ]);
    await Promise.all(opened.map((sub) => sub.shutdown()));
  });

  it("refuses replicas=3 on a server outside any cluster with FailedPrecondition, creating nothing", async () => {
    const { nc, jsm } = await admin();
    const name = unique("replicated");
    try {
      const err = await openTopic(`nats://${name}?declare=true&replicas=3`, { serverUrl: NATS_URL }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(PubSubError);
      expect((err as PubSubError).code).toBe(ErrorCode.FailedPrecondition);
      expect((err as PubSubError).message).toBe(
        `open nats subject "${name}": the server refused stream "${name}" with replicas=3: replicas > 1 not supported in non-clustered mode; the server is not part of a JetStream cluster; leave replicas out (or set 1), or run a cluster`,
      );
      await expect(jsm.streams.info(name)).rejects.toThrow(/stream not found/);
      // replicas=1 is what a server on its own has: declare creates the stream.
      const topic = await openTopic(`nats://${name}?declare=true&replicas=1`, { serverUrl: NATS_URL });
      expect((await jsm.streams.info(name)).config.num_replicas).toBe(1);
      await topic.shutdown();
    } finally {
      await jsm.streams.delete(name).catch(() => {});
      await nc.close();
    }
  });
});

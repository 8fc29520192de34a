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
      'nats: a server URL must start with nats:// or tls://, not redis://; expected nats://[user:password@]host[:port] or tls://…, several separated by commas, with "%", "/", "?", "#" and "@" in a user name or password percent-encoded',
    );
    const query = await invalid(() => parseServerUrls("nats://u:hunter2@h:4222/?x=1"));
    expect(query).toMatch(/^nats: server URL nats:\/\/\*\*\*@h:4222 has a path, query or fragment/);
    expect(query).not.toContain("hunter2");
    expect(await invalid(() => parseServerUrls("nats://a,,nats://b"))).toMatch(/has an empty entry/);
    expect(await invalid(() => parseServerUrls("nats://a:x@h1,nats://a:y@h2"))).toMatch(/different credentials/);
    expect(await invalid(() => parseServerUrls("nats://a,tls://b"))).toMatch(/mix nats:\/\/ and tls:\/\//);
    expect(await invalid(() => parseServerUrls("nats://u:%zz@h"))).toMatch(/badly percent-encoded password/);
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
});

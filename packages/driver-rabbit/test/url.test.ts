/**
 * URL and option validation: every mistake is InvalidArgument naming what
 * is wrong, before any connection is made; passwords never appear.
 */
import { ErrorCode, errorCode, openSubscription, openTopic } from "@portable-pubsub/core";
import { connectRabbit, openRabbitSubscription, openRabbitTopic } from "@portable-pubsub/driver-rabbit";
import { afterEach, describe, expect, it } from "vitest";
import { leakedSecret, rejectionOf } from "../../../test/leaks.js";

const invalid = async (p: Promise<unknown> | (() => unknown)) => {
  let error: unknown;
  try {
    await (typeof p === "function" ? p() : p);
  } catch (err) {
    error = err;
  }
  expect(errorCode(error)).toBe(ErrorCode.InvalidArgument);
  return (error as Error).message;
};

const server = { serverUrl: "amqp://user:pa55word@127.0.0.1:1" };
const savedEnv = process.env.RABBIT_SERVER_URL;
afterEach(() => {
  if (savedEnv === undefined) delete process.env.RABBIT_SERVER_URL;
  else process.env.RABBIT_SERVER_URL = savedEnv;
});

describe("rabbit URL and option validation", () => {
  it("rejects an unknown query parameter, naming it and the supported ones", async () => {
    const message = await invalid(openTopic("rabbit://orders?prefetch=10", server));
    expect(message).toMatch(/"prefetch" is not supported/);
    expect(message).toMatch(/routingKeyFrom/);
    expect(await invalid(openSubscription("rabbit://orders?routingKey=x", server))).toMatch(/"routingKey"/);
  });

  it("rejects bad values: prefetch, booleans, heartbeat, durations, exchange types", async () => {
    expect(await invalid(openSubscription("rabbit://q?prefetch=0", server))).toMatch(/"prefetch" is invalid/);
    expect(await invalid(openSubscription("rabbit://q?prefetch=lots", server))).toMatch(/"prefetch"/);
    expect(await invalid(openTopic("rabbit://x?persistent=maybe", server))).toMatch(/must be true or false/);
    expect(await invalid(openTopic("rabbit://x?heartbeat=-1", server))).toMatch(/"heartbeat"/);
    expect(await invalid(openSubscription("rabbit://q?maxWait=soon", server))).toMatch(/positive duration/);
    expect(await invalid(openTopic("rabbit://x?declare=true&exchangeType=weird", server))).toMatch(/"exchangeType"/);
    expect(await invalid(openTopic("rabbit://x?routingKeyFrom=a&routingKeyFrom=b", server))).toMatch(/twice/);
  });

  it("rejects parameters that only make sense with declare=true", async () => {
    expect(await invalid(openTopic("rabbit://x?exchangeType=fanout", server))).toMatch(/declare=true/);
    expect(await invalid(openSubscription("rabbit://q?exchange=orders", server))).toMatch(/declare=true/);
    expect(await invalid(openSubscription("rabbit://q?queueType=quorum", server))).toMatch(/declare=true/);
  });

  it("rejects an unknown queue type, and a replicated queue that is not durable", async () => {
    expect(await invalid(openSubscription("rabbit://q?declare=true&queueType=mirrored", server))).toMatch(
      /"queueType"/,
    );
    const notDurable = () => openRabbitSubscription(server, "q", { declare: { queueType: "quorum", durable: false } });
    expect(await invalid(notDurable)).toBe('rabbit: queue "q": a quorum queue is always durable; drop durable: false');
    const unknown = () => openRabbitSubscription(server, "q", { declare: { queueType: "lazy" as "quorum" } });
    expect(await invalid(unknown)).toBe('rabbit: queue "q": unknown queue type "lazy"; use classic, quorum, stream');
  });

  it("rejects a URL that names nothing", async () => {
    expect(await invalid(openTopic("rabbit://", server))).toMatch(/names no exchange/);
    expect(await invalid(openSubscription("rabbit://?prefetch=1", server))).toMatch(/names no queue/);
  });

  it("rejects unknown options, and both a connection and settings", async () => {
    // @ts-expect-error: rabbit:// has no option "prefetchCount"; this checks the run-time refusal too.
    expect(await invalid(openTopic("rabbit://x", { ...server, prefetchCount: 3 }))).toMatch(/"prefetchCount"/);
    // @ts-expect-error: heartbeat is a number of seconds.
    expect(await invalid(openTopic("rabbit://x", { heartbeat: "often" }))).toMatch(/"heartbeat"/);
    const connection = connectRabbit({ ...server, failFast: true });
    try {
      expect(await invalid(openTopic("rabbit://x", { connection, heartbeat: 3 }))).toMatch(/not both/);
      expect(await invalid(openTopic("rabbit://x?heartbeat=3", { connection }))).toMatch(/not both/);
    } finally {
      await connection.close();
    }
  });

  it("needs a server URL: from the option or RABBIT_SERVER_URL", async () => {
    delete process.env.RABBIT_SERVER_URL;
    expect(await invalid(openTopic("rabbit://x"))).toMatch(/RABBIT_SERVER_URL/);
    process.env.RABBIT_SERVER_URL = "http://127.0.0.1:1";
    expect(await invalid(openTopic("rabbit://x"))).toMatch(/must start with amqp:\/\/ or amqps:\/\//);
  });

  it("validates server URLs, one or several, without printing passwords", async () => {
    const bad = [
      "not a url",
      "amqp://user:pa55word@127.0.0.1:1?heartbeat=soon",
      "amqp://user:pa55word@127.0.0.1:1?tls=yes",
      "amqp://user:pa55word@127.0.0.1:1,ftp://user:pa55word@h",
      "amqp://user:pa55word@a:1?heartbeat=5,amqp://user:pa55word@b:1?heartbeat=9",
      " , ",
    ];
    for (const serverUrl of bad) {
      const message = await invalid(() => openRabbitTopic({ serverUrl }, "x"));
      expect(message, serverUrl).not.toContain("pa55word");
    }
  });

  it("validates direct constructors' options", async () => {
    expect(await invalid(() => openRabbitSubscription(server, "q", { maxWaitMs: 0 }))).toMatch(/maxWaitMs/);
    expect(await invalid(() => openRabbitSubscription(server, "q", { prefetch: 70_000 }))).toMatch(/prefetch/);
    expect(await invalid(() => openRabbitSubscription(server, ""))).toMatch(/queue name/);
    expect(await invalid(() => openRabbitTopic({ ...server, reconnectMaxDelayMs: -1 }, "x"))).toMatch(
      /reconnectMaxDelayMs/,
    );
  });
});

describe("rabbit server URLs: passwords with special characters never printed", () => {
  const secret = "pa55word";
  /** The error of opening a topic on `serverUrl`: InvalidArgument, without `secret` anywhere in it. */
  const rejected = async (serverUrl: string, secrets = [secret]) => {
    const err = await rejectionOf(() => openRabbitTopic({ serverUrl, failFast: true }, "x"));
    expect(errorCode(err), serverUrl).toBe(ErrorCode.InvalidArgument);
    expect(leakedSecret(err, secrets), serverUrl).toBeUndefined();
    return (err as Error).message;
  };

  it("splits failover URLs only at a comma before amqp:// or amqps://, so a password may hold commas", async () => {
    // The first URL's password has a comma; the second URL is the shared broker: the open succeeds through it.
    const topic = await openTopic("rabbit://amq.topic", {
      serverUrl: "amqp://nobody:pa,55word@127.0.0.1:1, AMQP://guest:guest@127.0.0.1:5672,",
      connectTimeoutMs: 2000,
    });
    await topic.shutdown();
    // Each failover URL is named by its position, without the password.
    const message = await rejected("amqp://u:pa,55word@h1?heartbeat=soon,amqp://u:x@h2");
    expect(message).toMatch(/^rabbit server URL: amqp:\/\/\*\*\*@h1: query parameter "heartbeat" is invalid/);
    expect(await rejected("amqp://u:x@h1,amqps://u:pa,55word@h2:99999")).toMatch(
      /^rabbit: server URL 2 of 2 "amqps:\/\/\*\*\*@h2:99999" is not a valid URL/,
    );
  });

  it("never echoes a URL that fails to parse beyond its last @, nor keeps Node's error (which holds it) as cause", async () => {
    for (const [serverUrl, password] of [
      ["amqp://user:pa/55word@h:99999", "pa/55word"],
      ["amqp://user:pa 55word@h:99999", "pa 55word"],
      ["amqp://user:pa55word @h:99999", "pa55word "],
      ["amqp://user:p a/s@s 55 word@h:99999", "p a/s@s 55 word"],
    ] as const) {
      const message = await rejected(serverUrl, [password, "55"]);
      expect(message).toMatch(/^rabbit: server URL "amqp:\/\/\*\*\*@h:99999" is not a valid URL/);
    }
  });

  it("echoes nothing of scheme-less or single-slash URLs, which parse with the password in the path", async () => {
    expect(await rejected("user:pa55word@host:5672")).toMatch(/must start with amqp:\/\/ or amqps:\/\/; expected/);
    expect(await rejected("amqp:user:pa55word@h")).toMatch(/names no host after amqp:\/\//);
    expect(await rejected("amqp:/user:pa55word@h")).toMatch(/names no host/);
    expect(await rejected("amqps:///user:pa55word@h")).toMatch(/names no host/);
    expect(await rejected("http://user:pa55word@h")).toMatch(/not http:\/\//);
  });

  it("rejects an @ after the host: a password whose / ? or # was not percent-encoded", async () => {
    for (const serverUrl of ["amqp://user:12/pa55word@h", "amqp://user:12?pa55word@h", "amqp://user:12#pa55word@h"]) {
      expect(await rejected(serverUrl)).toMatch(/has an "@" after its host/);
    }
  });

  it("rejects passwords in the query without printing them, whatever the key's encoding", async () => {
    expect(await rejected("amqps://u@h?password=pa55word")).toMatch(/"password" is not supported/);
    expect(await rejected("amqps://u@h?pass%77ord=pa55word")).toMatch(/"password" is not supported/);
    expect(await rejected("amqp://h?heartbeat=5&x%3D=pa55word")).toMatch(/"x=" is not supported/);
    expect(await rejected("amqp://h?heartbeat=pa55word")).toMatch(/"heartbeat" is invalid/);
    // Nor when the URL fails to parse: its query is not shown at all.
    expect(await rejected("amqp://u:x@h:99999?pass%77ord=pa55word")).toMatch(
      /^rabbit: server URL "amqp:\/\/\*\*\*@h:99999" is not/,
    );
  });

  it("rejects bad percent-encoding in user name, password and vhost with InvalidArgument", async () => {
    expect(await rejected("amqp://user:pa55word%ZZ@h")).toMatch(/badly percent-encoded password/);
    expect(await rejected("amqp://us%E0%A4%Ar:pa55word@h")).toMatch(/badly percent-encoded user name/);
    expect(await rejected("amqp://user:pa55word@h/v%ZZ")).toMatch(/badly percent-encoded vhost/);
  });
});

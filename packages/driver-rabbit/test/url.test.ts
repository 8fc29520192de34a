/**
 * URL and option validation: every mistake is InvalidArgument naming what
 * is wrong, before any connection is made; passwords never appear.
 */
import { ErrorCode, errorCode, openSubscription, openTopic } from "@portable-pubsub/core";
import { connectRabbit, openRabbitSubscription, openRabbitTopic } from "@portable-pubsub/driver-rabbit";
import { afterEach, describe, expect, it } from "vitest";

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
  });

  it("rejects a URL that names nothing", async () => {
    expect(await invalid(openTopic("rabbit://", server))).toMatch(/names no exchange/);
    expect(await invalid(openSubscription("rabbit://?prefetch=1", server))).toMatch(/names no queue/);
  });

  it("rejects unknown options, and both a connection and settings", async () => {
    expect(await invalid(openTopic("rabbit://x", { ...server, prefetchCount: 3 }))).toMatch(/"prefetchCount"/);
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

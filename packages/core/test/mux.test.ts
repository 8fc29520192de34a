import { ErrorCode, errorCode, Topic, URLMux } from "@portable-pubsub/core";
import { describe, expect, it } from "vitest";
import { failure, ScriptedTopicDriver } from "./fake-driver.js";

describe("URLMux", () => {
  it("opens a registered scheme, handing the driver its URL and only the non-portable options", async () => {
    const mux = new URLMux();
    const calls: unknown[] = [];
    mux.registerTopic("fake", async (url, driverOptions, portable) => {
      calls.push([url.href, driverOptions, portable]);
      return new Topic(new ScriptedTopicDriver(), portable);
    });
    const topic = await mux.openTopic("fake://orders?x=1", { serverUrl: "s", batching: { maxBatchSize: 5 } });
    expect(calls).toEqual([["fake://orders?x=1", { serverUrl: "s" }, { batching: { maxBatchSize: 5 } }]]);
    await topic.shutdown();
  });

  it("rejects registering a scheme twice with AlreadyExists, and a bad scheme with InvalidArgument", () => {
    const mux = new URLMux();
    const opener = async () => new Topic(new ScriptedTopicDriver());
    mux.registerTopic("dup", opener);
    expect(() => mux.registerTopic("dup", opener)).toThrow(expect.objectContaining({ code: ErrorCode.AlreadyExists }));
    expect(() => mux.registerTopic("Bad Scheme", opener)).toThrow(
      expect.objectContaining({ code: ErrorCode.InvalidArgument }),
    );
  });

  it("names the registered schemes when a scheme is unknown", async () => {
    const mux = new URLMux({ mem: "@portable-pubsub/driver-memory" });
    const error = await failure(mux.openSubscription("nats://x"));
    expect(error.code).toBe(ErrorCode.InvalidArgument);
    expect(error.message).toBe('openSubscription: no driver for scheme "nats://"; registered schemes: mem://');
  });

  it.each([
    [
      "redis://orders",
      "did you mean redisstream://, for Redis Streams (redis:// is the form of the server URL, which goes in REDIS_SERVER_URL or the serverUrl option)? ",
    ],
    [
      "rediss://orders",
      "did you mean redisstream://, for Redis Streams (rediss:// is the form of the server URL, which goes in REDIS_SERVER_URL or the serverUrl option)? ",
    ],
    [
      "amqp://orders",
      "did you mean rabbit://, for RabbitMQ (amqp:// is the form of the server URL, which goes in RABBIT_SERVER_URL or the serverUrl option)? ",
    ],
    [
      "amqps://orders",
      "did you mean rabbit://, for RabbitMQ (amqps:// is the form of the server URL, which goes in RABBIT_SERVER_URL or the serverUrl option)? ",
    ],
    ["gcp://p/t", "did you mean gcppubsub://, for Google Cloud Pub/Sub? "],
    ["pubsub://p/t", "did you mean gcppubsub://, for Google Cloud Pub/Sub? "],
    ["jetstream://orders", "did you mean nats://, for NATS JetStream? "],
    ["rabit://orders", "did you mean rabbit://? "],
    ["RABBITT://orders", "did you mean rabbit://? "],
    ["redistream://orders", "did you mean redisstream://? "],
    ["gcppubsbu://p/t", "did you mean gcppubsub://? "],
    ["postgres://orders", "the PostgreSQL scheme is pg://, which is not available yet; "],
    ["postgresql://orders", "the PostgreSQL scheme is pg://, which is not available yet; "],
    ["kafka://orders", ""],
  ])("suggests the scheme meant for %s", async (url, suggestion) => {
    const mux = new URLMux({
      mem: "@portable-pubsub/driver-memory",
      rabbit: "x",
      gcppubsub: "x",
      redisstream: "x",
      nats: "x",
    });
    const scheme = url.slice(0, url.indexOf(":")).toLowerCase();
    const error = await failure(mux.openTopic(url));
    expect(error.code).toBe(ErrorCode.InvalidArgument);
    expect(error.message).toBe(
      `openTopic: no driver for scheme "${scheme}://"; ${suggestion}registered schemes: gcppubsub://, mem://, nats://, rabbit://, redisstream://`,
    );
  });

  it("suggests pg:// for postgres:// once a driver registered it", async () => {
    const mux = new URLMux();
    mux.registerTopic("pg", async () => new Topic(new ScriptedTopicDriver()));
    const error = await failure(mux.openTopic("postgres://orders"));
    expect(error.message).toBe(
      'openTopic: no driver for scheme "postgres://"; did you mean pg://, for PostgreSQL? registered schemes: pg://',
    );
  });

  it("lists the portable options too, and the one meant, when a driver refuses an option", async () => {
    const mux = new URLMux({ mem: "@portable-pubsub/driver-memory" });
    // @ts-expect-error: the option is shutdownTimeoutMs; this checks the run-time refusal.
    const topicError = await failure(mux.openTopic("mem://orders", { shutdownTimeout: 5 }));
    expect(topicError.code).toBe(ErrorCode.InvalidArgument);
    expect(topicError.message).toBe(
      'mem: option "shutdownTimeout" is not supported; supported: broker; ' +
        "portable options: batching, retry, maxPendingSends, shutdownTimeoutMs, tracing, logger, deadLetterTarget, schema, codec, signal; " +
        'did you mean "shutdownTimeoutMs"?',
    );
    await mux.openTopic("mem://orders").then((t) => t.shutdown());
    // @ts-expect-error: the option is deadLetter; this checks the run-time refusal.
    const subscriptionError = await failure(mux.openSubscription("mem://orders", { deadLeter: "mem://dlq" }));
    expect(subscriptionError.message).toBe(
      'mem: option "deadLeter" is not supported; supported: broker; ' +
        "portable options: redelivery, deadLetter, maxExtensionMs, maxReceiveBatchSize, ackBatching, retry, shutdownTimeoutMs, tracing, logger, schema, codec, idempotency, signal; " +
        'did you mean "deadLetter"?',
    );
  });

  it("rejects a malformed URL with InvalidArgument, without its password", async () => {
    const error = await failure(new URLMux().openTopic("amqp://user:hunter2@ bad host/x"));
    expect(error.code).toBe(ErrorCode.InvalidArgument);
    expect(error.message).toMatch(/is not a valid URL/);
    expect(error.message).not.toContain("hunter2");
    expect(errorCode(await failure(new URLMux().openTopic(42 as never)))).toBe(ErrorCode.InvalidArgument);
  });

  it("names the package to install when a built-in driver is missing", async () => {
    const mux = new URLMux({ nope: "@portable-pubsub/driver-that-does-not-exist" });
    const error = await failure(mux.openTopic("nope://x"));
    expect(error.code).toBe(ErrorCode.InvalidArgument);
    expect(error.message).toBe(
      'openTopic: the nope:// driver is not installed; install it with "npm install @portable-pubsub/driver-that-does-not-exist" (or pnpm add / yarn add)',
    );
  });

  it("loads a built-in driver lazily by scheme", async () => {
    const mux = new URLMux({ mem: "@portable-pubsub/driver-memory" });
    const topic = await mux.openTopic("mem://lazy-load");
    const subscription = await mux.openSubscription("mem://lazy-load");
    await topic.send({ body: "lazy" });
    expect((await subscription.receive()).text()).toBe("lazy");
    await Promise.all([topic.shutdown(), subscription.shutdown()]);
    expect(mux.topicSchemes()).toEqual(["mem"]);
  });

  it("with a signal aborted already: rejects Canceled, shuts down what opens anyway, leaves no rejection unhandled", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    process.on("unhandledRejection", onUnhandled);
    const mux = new URLMux();
    const driver = new ScriptedTopicDriver();
    mux.registerTopic("ok", async () => new Topic(driver));
    mux.registerTopic("bad", async () => {
      throw new Error("opener failed");
    });
    for (const scheme of ["ok", "bad"]) {
      const error = await failure(mux.openTopic(`${scheme}://x`, { signal: AbortSignal.abort() }));
      expect(error.code).toBe(ErrorCode.Canceled);
    }
    await new Promise((r) => setTimeout(r, 20));
    process.off("unhandledRejection", onUnhandled);
    expect(unhandled).toEqual([]);
    expect(driver.closed).toBe(1);
  });

  it("gives up opening with Canceled when the signal fires, and shuts down what opens late", async () => {
    const mux = new URLMux();
    const driver = new ScriptedTopicDriver();
    mux.registerTopic("slow", async () => {
      await new Promise((r) => setTimeout(r, 50));
      return new Topic(driver);
    });
    const error = await failure(mux.openTopic("slow://x", { signal: AbortSignal.timeout(10) }));
    expect(error.code).toBe(ErrorCode.DeadlineExceeded);
    await new Promise((r) => setTimeout(r, 80));
    expect(driver.closed).toBe(1);
  });
});

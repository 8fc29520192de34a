/**
 * The options of openTopic and openSubscription are typed by the URL's
 * scheme: `pnpm typecheck` compiles this file, so each `@ts-expect-error`
 * below fails CI when the compiler stops refusing that line, and each call
 * without one fails it when the compiler starts refusing it. The drivers'
 * types come in as an application that leaves driver loading to core gets
 * them: a type-only import, which no JavaScript keeps.
 */
import {
  ErrorCode,
  errorCode,
  type OpenSubscriptionOptions,
  type OpenTopicOptions,
  openSubscription,
  openTopic,
  type SchemeOf,
  type TopicOptions,
  URLMux,
} from "@portable-pubsub/core";
import type {} from "@portable-pubsub/driver-gcp";
import { MemBroker } from "@portable-pubsub/driver-memory";
import type {} from "@portable-pubsub/driver-nats";
import type { RabbitURLOptions } from "@portable-pubsub/driver-rabbit";
import type {} from "@portable-pubsub/driver-redis";
import { describe, expect, expectTypeOf, it } from "vitest";

declare module "@portable-pubsub/core" {
  interface TopicOptionsByScheme {
    "typed-fake": { token: string };
  }
}

/** Compiled, never run: what the compiler accepts, and what it refuses. */
function compiled(serverUrl: string, url: string, parsed: URL): void {
  // A literal URL of a registered scheme: the portable options, the signal and the driver's, and nothing else.
  void openTopic("rabbit://orders", { serverUrl, shutdownTimeoutMs: 5000, signal: AbortSignal.timeout(1) });
  void openTopic("rabbit://orders", { connectionName: "billing", batching: { maxBatchSize: 10 } });
  // @ts-expect-error: a typo of serverUrl
  void openTopic("rabbit://orders", { severUrl: serverUrl });
  // @ts-expect-error: the portable option is shutdownTimeoutMs
  void openTopic("rabbit://orders", { shutdownTimeout: 5000 });
  // @ts-expect-error: heartbeat is a number of seconds
  void openTopic("rabbit://orders", { heartbeat: "often" });
  // @ts-expect-error: socketTimeout is redisstream's, not rabbit's
  void openTopic("rabbit://orders", { socketTimeout: "5s" });
  void openSubscription("rabbit://orders-billing", {
    serverUrl,
    deadLetter: "rabbit://orders-dlq",
    redelivery: { maxAttempts: 5 },
  });
  // @ts-expect-error: maxPendingSends is a topic's option
  void openSubscription("rabbit://orders-billing", { maxPendingSends: 3 });

  // Every built-in scheme, in any case, and a template literal type.
  void openTopic("redisstream://orders", { serverUrl, socketTimeout: "5s", redisOptions: { family: 6 } });
  // @ts-expect-error: a typo of socketTimeout
  void openSubscription("redisstream://orders?group=g", { socketTimout: "5s" });
  void openTopic("nats://orders", { serverUrl, requestTimeout: 5000, natsOptions: { name: "svc" } });
  // @ts-expect-error: nats:// takes no client
  void openTopic("nats://orders", { client: {} });
  void openTopic("gcppubsub://p/orders", { apiEndpoint: "localhost:8085" });
  // @ts-expect-error: gcppubsub:// has no serverUrl
  void openTopic("gcppubsub://p/orders", { serverUrl });
  void openTopic("mem://orders", { broker: new MemBroker() });
  // @ts-expect-error: a typo of broker
  void openSubscription("mem://orders", { brokr: new MemBroker() });
  // @ts-expect-error: URL schemes are case-insensitive, so the options are typed too
  void openTopic("RABBIT://orders", { severUrl: serverUrl });
  const name: string = "orders";
  // @ts-expect-error: a template literal's scheme is known
  void openTopic(`rabbit://${name}`, { severUrl: serverUrl });

  // The URLMux methods are typed alike.
  // @ts-expect-error: a typo of serverUrl
  void new URLMux().openTopic("rabbit://orders", { severUrl: serverUrl });

  // A variable typed with the portable options passes, as before.
  const portable: TopicOptions = { shutdownTimeoutMs: 1000 };
  void openTopic("rabbit://orders", portable);

  // A URL whose scheme the compiler cannot know, or that no loaded driver registered: any other key compiles, and
  // the driver checks it at run time; the portable options stay typed.
  void openTopic(url, { severUrl: serverUrl });
  void openTopic(parsed, { severUrl: serverUrl });
  void openTopic("kafka://orders", { brokers: ["localhost:9092"] });
  // @ts-expect-error: shutdownTimeoutMs is a number, whatever the URL
  void openTopic(url, { shutdownTimeoutMs: "5s" });

  // A scheme an application's own driver registered.
  void openTopic("typed-fake://x", { token: "t" });
  // @ts-expect-error: the token is a string
  void openTopic("typed-fake://x", { token: 1 });
}

describe("typed open options", () => {
  it("reads the scheme from a literal URL, in lower case, and none from a string", () => {
    expectTypeOf<SchemeOf<"rabbit://orders">>().toEqualTypeOf<"rabbit">();
    expectTypeOf<SchemeOf<"Rabbit://orders">>().toEqualTypeOf<"rabbit">();
    expectTypeOf<SchemeOf<"mem:orders">>().toEqualTypeOf<"mem">();
    expectTypeOf<SchemeOf<string>>().toEqualTypeOf<never>();
    expectTypeOf<SchemeOf<"orders">>().toEqualTypeOf<never>();
  });

  it("gives a registered scheme the portable options, the signal and the driver's own", () => {
    expectTypeOf<OpenTopicOptions<"rabbit://x">>().toEqualTypeOf<
      TopicOptions & { signal?: AbortSignal } & RabbitURLOptions
    >();
    expectTypeOf<OpenSubscriptionOptions<"rabbit://x">>().toHaveProperty("deadLetter");
    // Without a URL, the types are what they were: the portable options plus any key.
    expectTypeOf<OpenTopicOptions>().toEqualTypeOf<OpenTopicOptions<string>>();
    expectTypeOf<{ anything: 1 }>().toExtend<OpenTopicOptions>();
    expectTypeOf(compiled).toBeFunction();
  });

  it("opens with typed options, and refuses at run time what an untyped URL let through", async () => {
    const broker = new MemBroker();
    const topic = await openTopic("mem://typed-options", { broker, shutdownTimeoutMs: 1000 });
    const sub = await openSubscription("mem://typed-options", { broker, maxReceiveBatchSize: 5 });
    await topic.send({ body: "typed" });
    expect((await sub.receive()).text()).toBe("typed");
    await Promise.all([topic.shutdown(), sub.shutdown()]);

    const url: string = "mem://typed-options";
    const error = await openTopic(url, { broker, shutdownTimeout: 1000 }).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain('did you mean "shutdownTimeoutMs"?');
  });

  it.each([
    ["mem://orders", "mem", "broker"],
    ["rabbit://orders", "rabbit", "serverUrl, heartbeat, connectTimeoutMs"],
    ["redisstream://orders", "redisstream", "serverUrl, redisOptions, socketTimeout"],
    ["nats://orders", "nats", "serverUrl, natsOptions, requestTimeout, pingInterval"],
    ["gcppubsub://p/orders", "gcppubsub", "client, apiEndpoint"],
  ])(
    "%s: an unknown option names the driver's options, the portable ones and the one meant",
    async (url, driver, own) => {
      const untyped: string = url;
      const error = await openTopic(untyped, { shutdownTimeout: 1000 }).catch((e: unknown) => e as Error);
      expect(errorCode(error)).toBe(ErrorCode.InvalidArgument);
      expect((error as Error).message).toMatch(
        new RegExp(
          `^${driver}: option "shutdownTimeout" is not supported; supported: ${own}.*; ` +
            "portable options: batching, retry, maxPendingSends, shutdownTimeoutMs, tracing, logger, deadLetterTarget, schema, codec, signal; " +
            'did you mean "shutdownTimeoutMs"\\?$',
        ),
      );
    },
  );
});

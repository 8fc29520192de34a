import { PubSub, Topic as PubSubTopic } from "@google-cloud/pubsub";
import { ErrorCode, errorCode, openSubscription, openTopic, type PubSubError, Topic } from "@portable-pubsub/core";
import { createPubSub, openSubscriptionURL, openTopicURL, parseResourceUrl } from "@portable-pubsub/driver-gcp";
import { afterEach, describe, expect, it } from "vitest";
import { emulatorForTests } from "./emulator.js";
import { PROJECT, uniqueName } from "./harness.js";

function thrown(fn: () => unknown): PubSubError {
  try {
    fn();
  } catch (err) {
    return err as PubSubError;
  }
  throw new Error("expected an error");
}

/** The error `promise` rejects with; fails the test if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<PubSubError> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (err: unknown) => err as PubSubError,
  );
}

describe("gcppubsub URL names", () => {
  it("reads the long and the short form of topics and subscriptions", () => {
    expect(parseResourceUrl(new URL("gcppubsub://projects/my-proj/topics/orders"), "topics")).toEqual({
      projectId: "my-proj",
      id: "orders",
      path: "projects/my-proj/topics/orders",
    });
    expect(parseResourceUrl(new URL("gcppubsub://my-proj/orders"), "topics").path).toBe(
      "projects/my-proj/topics/orders",
    );
    expect(parseResourceUrl(new URL("gcppubsub://projects/p-1/subscriptions/billing"), "subscriptions").path).toBe(
      "projects/p-1/subscriptions/billing",
    );
    expect(parseResourceUrl(new URL("gcppubsub://p-1/Billing.v2~x+y_z"), "subscriptions").path).toBe(
      "projects/p-1/subscriptions/Billing.v2~x+y_z",
    );
    // A %-escape is decoded: Pub/Sub ids may contain "%" itself, written %25.
    expect(parseResourceUrl(new URL("gcppubsub://p-1/a%25b"), "topics").id).toBe("a%b");
    // A domain-scoped project fits the long form only.
    expect(parseResourceUrl(new URL("gcppubsub://projects/example.com:proj/topics/abc"), "topics").projectId).toBe(
      "example.com:proj",
    );
  });

  it.each([
    [
      "gcppubsub://my-proj",
      /is not a topic URL; use gcppubsub:\/\/projects\/PROJECT\/topics\/TOPIC or gcppubsub:\/\/PROJECT\/TOPIC/,
    ],
    ["gcppubsub://projects/my-proj/topics", /is not a topic URL/],
    ["gcppubsub://my-proj/orders/extra", /is not a topic URL/],
    ["gcppubsub://projects/my-proj/subscriptions/orders", /names a subscription where a topic is needed/],
    ["gcppubsub://projects/my-proj/queues/orders", /names "queues" where a topic is needed/],
    ["gcppubsub://My_Proj/orders", /"My_Proj" is not a Google Cloud project id/],
    ["gcppubsub://my-proj/ab", /"ab" is not a valid topic id: 3 to 255 characters/],
    ["gcppubsub://my-proj/1orders", /"1orders" is not a valid topic id/],
    ["gcppubsub://my-proj/goog-orders", /not starting with "goog"/],
    ["gcppubsub://my-proj/or%20ders", /"or ders" is not a valid topic id/],
    [`gcppubsub://my-proj/${"a".repeat(256)}`, /is not a valid topic id/],
    ["gcppubsub://my-proj/a%ZZb", /malformed %-escape/],
  ])("rejects %s with InvalidArgument", (url, message) => {
    const error = thrown(() => parseResourceUrl(new URL(url), "topics"));
    expect(error.code).toBe(ErrorCode.InvalidArgument);
    expect(error.message).toMatch(message);
  });

  it("asks for a subscription URL where a subscription is opened", async () => {
    const error = await rejection(openSubscriptionURL(new URL("gcppubsub://projects/p-1/topics/orders"), {}, {}));
    expect(error.code).toBe(ErrorCode.InvalidArgument);
    expect(error.message).toMatch(
      /names a topic where a subscription is needed; use gcppubsub:\/\/projects\/PROJECT\/subscriptions\/SUBSCRIPTION/,
    );
  });
});

describe("gcppubsub URL parameters and options", () => {
  const opened: { shutdown(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((o) => o.shutdown()));
  });

  it.each([
    [
      "gcppubsub://p-1/orders?bogus=1",
      /query parameter "bogus" is not supported; supported: orderingKey, maxBatchSize/,
    ],
    ["gcppubsub://p-1/orders?maxBatchSize=0", /"maxBatchSize" is invalid/],
    ["gcppubsub://p-1/orders?maxBatchSize=1001", /"maxBatchSize" is invalid/],
    ["gcppubsub://p-1/orders?maxBatchSize=ten", /"maxBatchSize" is invalid/],
    ["gcppubsub://p-1/orders?linger=soon", /"linger" is invalid: must be a duration/],
    ["gcppubsub://p-1/orders?rpcTimeout=0", /"rpcTimeout" is invalid: must be a positive duration/],
    ["gcppubsub://p-1/orders?orderingKey=", /"orderingKey" is invalid: must name a metadata key/],
    ["gcppubsub://p-1/orders?maxBatchSize=5&maxBatchSize=6", /"maxBatchSize" is given twice/],
  ])("rejects topic URL %s with InvalidArgument", async (url, message) => {
    const error = await rejection(openTopic(url));
    expect(error.code).toBe(ErrorCode.InvalidArgument);
    expect(error.message).toMatch(message);
  });

  it.each([
    ["gcppubsub://p-1/billing?maxOutstandingMessages=0", /"maxOutstandingMessages" is invalid/],
    ["gcppubsub://p-1/billing?maxOutstandingBytes=-5", /"maxOutstandingBytes" is invalid/],
    ["gcppubsub://p-1/billing?maxOutstandingBytes=lots", /"maxOutstandingBytes" is invalid: must be a size/],
    ["gcppubsub://p-1/billing?maxWait=never", /"maxWait" is invalid: must be a positive duration/],
    [
      "gcppubsub://p-1/billing?orderingKey=k",
      /query parameter "orderingKey" is not supported; supported: maxOutstandingMessages/,
    ],
  ])("rejects subscription URL %s with InvalidArgument", async (url, message) => {
    const error = await rejection(openSubscription(url));
    expect(error.code).toBe(ErrorCode.InvalidArgument);
    expect(error.message).toMatch(message);
  });

  it("rejects unknown and mistyped driver options", async () => {
    // @ts-expect-error: gcppubsub:// has no option "pubsub"; this checks the run-time refusal too.
    const unknown = await openTopic("gcppubsub://p-1/orders", { pubsub: {} }).catch((e: unknown) => e);
    expect(errorCode(unknown)).toBe(ErrorCode.InvalidArgument);
    expect((unknown as Error).message).toMatch(/option "pubsub" is not supported; supported: client, apiEndpoint/);
    // @ts-expect-error: client is a PubSub.
    const wrongClient = await openSubscription("gcppubsub://p-1/billing", { client: "a client" }).catch(
      (e: unknown) => e,
    );
    expect(errorCode(wrongClient)).toBe(ErrorCode.InvalidArgument);
    expect((wrongClient as Error).message).toMatch(/"client" is invalid/);
  });

  it("takes batching and ordering from the URL; explicit options win over the URL", async () => {
    const topic = await openTopicURL(
      new URL("gcppubsub://projects/p-1/topics/orders?orderingKey=customer&maxBatchSize=50&linger=5ms"),
      { apiEndpoint: "127.0.0.1:1" },
      { batching: { maxBatchSize: 20 } },
    );
    opened.push(topic);
    expect(topic).toBeInstanceOf(Topic);
    const native = topic.as<PubSubTopic>();
    expect(native).toBeInstanceOf(PubSubTopic);
    expect(native.name).toBe("projects/p-1/topics/orders");
  });

  it("takes sizes with units for byte limits, and builds without any RPC", async () => {
    // The openers make no call; the mux then awaits the driver's ready, which connects (see open.test.ts).
    const options = { apiEndpoint: "127.0.0.1:1" };
    opened.push(await openTopicURL(new URL("gcppubsub://p-1/orders?maxBatchBytes=512KiB&linger=0"), options, {}));
    opened.push(
      await openSubscriptionURL(
        new URL("gcppubsub://p-1/billing?maxOutstandingBytes=64MiB&maxWait=500ms"),
        options,
        {},
      ),
    );
  });

  it("uses Application Default Credentials when PUBSUB_EMULATOR_HOST is not set", () => {
    const saved = process.env.PUBSUB_EMULATOR_HOST;
    delete process.env.PUBSUB_EMULATOR_HOST;
    try {
      const google = createPubSub("p-1");
      expect(google.isEmulator).toBe(false);
      expect(google.options.sslCreds).toBeUndefined();
      const emulator = createPubSub("p-1", { apiEndpoint: "127.0.0.1:8085" });
      expect(emulator.isEmulator).toBe(true);
      expect(emulator.options.servicePath).toBe("127.0.0.1");
      expect(emulator.options.port).toBe(8085);
      const regional = createPubSub("p-1", { apiEndpoint: "us-east1-pubsub.googleapis.com:443" });
      expect(regional.isEmulator).toBe(false);
      process.env.PUBSUB_EMULATOR_HOST = "127.0.0.1:9999";
      const fromEnv = createPubSub("p-1");
      expect(fromEnv.isEmulator).toBe(true);
      expect(fromEnv.options.port).toBe(9999);
    } finally {
      if (saved === undefined) delete process.env.PUBSUB_EMULATOR_HOST;
      else process.env.PUBSUB_EMULATOR_HOST = saved;
    }
  });
});

const emulator = await emulatorForTests();

describe.skipIf(!emulator)("gcppubsub URLs against the emulator", () => {
  it("sends and receives through openTopic / openSubscription with PUBSUB_EMULATOR_HOST", async () => {
    const address = emulator?.address ?? "";
    const admin = createPubSub(PROJECT, { apiEndpoint: address });
    const [topic] = await admin.createTopic(uniqueName("url"));
    const [sub] = await topic.createSubscription(uniqueName("url"));
    const saved = process.env.PUBSUB_EMULATOR_HOST;
    process.env.PUBSUB_EMULATOR_HOST = address;
    try {
      const t = await openTopic(`gcppubsub://${topic.name}`);
      const s = await openSubscription(`gcppubsub://${PROJECT}/${sub.name.split("/")[3]}?maxOutstandingMessages=10`);
      await t.send({ body: "via the mux", metadata: { k: "v" } });
      const message = await s.receive({ signal: AbortSignal.timeout(10_000) });
      message.ack();
      expect(message.text()).toBe("via the mux");
      expect(message.metadata).toEqual({ k: "v" });
      await Promise.all([t.shutdown(), s.shutdown()]);
    } finally {
      if (saved === undefined) delete process.env.PUBSUB_EMULATOR_HOST;
      else process.env.PUBSUB_EMULATOR_HOST = saved;
      await sub.delete();
      await topic.delete();
      await admin.close();
    }
  });

  it("uses a PubSub client given as the `client` option and leaves it open", async () => {
    const client = new PubSub({
      projectId: PROJECT,
      apiEndpoint: emulator?.address,
      emulatorMode: true,
      universeDomain: "googleapis.com",
    });
    const [topic] = await client.createTopic(uniqueName("client-option"));
    const t = await openTopic(`gcppubsub://${topic.name}`, { client });
    await t.send({ body: "x" });
    await t.shutdown();
    expect(client.isOpen).toBe(true);
    await topic.delete();
    await client.close();
  });
});

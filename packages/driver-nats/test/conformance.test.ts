import { AckPolicy } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { type Harness, runConformanceTests } from "@portable-pubsub/conformance";
import { NatsLink, NatsSubscriptionDriver, NatsTopicDriver } from "@portable-pubsub/driver-nats";
import { afterAll, beforeAll, describe } from "vitest";
import { admin, NATS_ADDRESS, NATS_URL, natsConnection, requireNats, skipNats, unique } from "./helpers.js";
import { type OwnServer, startOwnServer } from "./own-server.js";

const ackDeadlineMs = 1000;

/**
 * A harness whose drivers share one connection to `url` (the server, or the
 * fault proxy in front of it), while streams and consumers are made and
 * removed through a direct admin connection to `adminUrl`. A topic is a
 * stream with one subject of the same name; a subscription is a durable
 * pull consumer with a 1 s ack wait.
 */
async function makeHarness(url: string, adminUrl = url): Promise<Harness> {
  const nc: NatsConnection = await natsConnection(url);
  const { nc: adminNc, jsm } = await admin(adminUrl);
  const link = () => NatsLink.of(nc);
  return {
    async createTopic(name) {
      const stream = unique(name);
      await jsm.streams.add({ name: stream, subjects: [stream] });
      return {
        driver: new NatsTopicDriver(link(), stream),
        id: stream,
        cleanup: async () => {
          await jsm.streams.delete(stream).catch(() => {});
        },
      };
    },
    async makeNonexistentTopic() {
      return new NatsTopicDriver(link(), unique("missing"));
    },
    async createSubscription(topic, name) {
      const stream = topic.id as string;
      const consumer = unique(name);
      await jsm.consumers.add(stream, {
        durable_name: consumer,
        ack_policy: AckPolicy.Explicit,
        ack_wait: ackDeadlineMs * 1_000_000,
      });
      const open = () => new NatsSubscriptionDriver(link(), stream, consumer);
      return {
        driver: open(),
        cleanup: async () => {
          await jsm.consumers.delete(stream, consumer).catch(() => {});
        },
        openConsumer: async () => open(),
      };
    },
    async makeNonexistentSubscription() {
      return new NatsSubscriptionDriver(link(), unique("no_stream"), "no_consumer");
    },
    async close() {
      await nc.close().catch(() => {});
      await adminNc.close().catch(() => {});
    },
  };
}

const isConnection = (n: unknown) =>
  typeof (n as NatsConnection | undefined)?.publish === "function" &&
  typeof (n as NatsConnection | undefined)?.getServer === "function";

describe.skipIf(skipNats)("nats against NATS JetStream", () => {
  beforeAll(requireNats);
  // The restart case restarts a nats-server of this file's own, never the shared one.
  let own: OwnServer | undefined;
  afterAll(async () => {
    await own?.stop();
  });
  runConformanceTests(() => makeHarness(NATS_URL), {
    name: "nats",
    canNack: true,
    guaranteedOrder: true,
    multipleSubscriptions: true,
    consumerGroups: true,
    ackDeadlineMs,
    messagingSystem: "nats",
    native: {
      topic: isConnection,
      subscription: isConnection,
      message: (n) =>
        typeof (n as { ack?: unknown })?.ack === "function" &&
        typeof (n as { working?: unknown })?.working === "function",
    },
    reconnect: {
      upstream: NATS_ADDRESS,
      harness: (address) => makeHarness(`nats://${address.host}:${address.port}`, NATS_URL),
      messages: 5000,
    },
    restart: {
      stopBroker: async () => own?.kill(),
      startBroker: async () => own?.start(),
      harness: async () => {
        own ??= await startOwnServer();
        return makeHarness(own.url);
      },
      messages: 3000,
    },
  });
});

import { Subscription as PubSubSubscription, Topic as PubSubTopic } from "@google-cloud/pubsub";
import { runConformanceTests } from "@portable-pubsub/conformance";
import type { ReceivedMessage } from "@portable-pubsub/driver-gcp";
import { describe, it } from "vitest";
import { emulatorForTests } from "./emulator.js";
import { ACK_DEADLINE_SECONDS, gcpHarness } from "./harness.js";

const emulator = await emulatorForTests();

if (!emulator) {
  describe.skip("conformance: gcppubsub (the Pub/Sub emulator could not start)", () => {
    it("needs the emulator", () => {});
  });
} else {
  runConformanceTests(async () => gcpHarness(emulator.address), {
    name: "gcppubsub",
    messagingSystem: "gcp_pubsub",
    canNack: true,
    // Pub/Sub orders only messages with an ordering key, on subscriptions that enable ordering.
    guaranteedOrder: false,
    multipleSubscriptions: true,
    consumerGroups: true,
    ackDeadlineMs: ACK_DEADLINE_SECONDS * 1000,
    receiveTimeoutMs: 15_000,
    native: {
      topic: (n) => n instanceof PubSubTopic,
      subscription: (n) => n instanceof PubSubSubscription,
      message: (n) => typeof (n as ReceivedMessage)?.ackId === "string" && (n as ReceivedMessage).message !== undefined,
    },
    reconnect: {
      upstream: { host: emulator.host, port: emulator.port },
      harness: async (address) => gcpHarness(emulator.address, `${address.host}:${address.port}`),
    },
  });
}

import type { Harness } from "@portable-pubsub/conformance";
import { type MemBroker, MemSubscriptionDriver, MemTopicDriver } from "@portable-pubsub/driver-memory";

/** What the mem conformance runs share: topics on `broker`, and its missing topic and subscription. */
export function memTopics(broker: MemBroker): Pick<Harness, "createTopic" | "makeNonexistentTopic"> & {
  missingSubscription(): MemSubscriptionDriver;
} {
  return {
    async createTopic(name) {
      broker.createTopic(name);
      return { driver: new MemTopicDriver(broker, name), id: name, cleanup: async () => broker.deleteTopic(name) };
    },
    async makeNonexistentTopic() {
      return new MemTopicDriver(broker, "no-such-topic");
    },
    missingSubscription() {
      broker.createTopic("has-no-subscriptions");
      return new MemSubscriptionDriver(broker, "has-no-subscriptions", "no-such-subscription", {
        create: undefined,
        maxWaitMs: 1000,
        anonymous: false,
      });
    },
  };
}

import { runConformanceTests } from "@portable-pubsub/conformance";
import { MemBroker, MemSubscriptionDriver } from "@portable-pubsub/driver-memory";
import { memTopics } from "./mem-harness.js";

const ackDeadlineMs = 1000;

runConformanceTests(
  async () => {
    const broker = new MemBroker();
    const consumer = (topic: string, name: string) =>
      new MemSubscriptionDriver(broker, topic, name, { create: { ackDeadlineMs }, maxWaitMs: 1000, anonymous: false });
    const { missingSubscription, ...topics } = memTopics(broker);
    return {
      ...topics,
      async createSubscription(topic, name) {
        const topicName = topic.id ?? "";
        const driver = consumer(topicName, name);
        driver.state();
        return {
          driver,
          cleanup: async () => broker.deleteSubscription(topicName, name),
          openConsumer: async () => consumer(topicName, name),
        };
      },
      makeNonexistentSubscription: async () => missingSubscription(),
    };
  },
  {
    name: "mem",
    messagingSystem: "mem",
    canNack: true,
    guaranteedOrder: true,
    multipleSubscriptions: true,
    consumerGroups: true,
    ackDeadlineMs,
    native: {
      topic: (n) => n instanceof MemBroker,
      subscription: (n) => n instanceof MemBroker,
      message: (n) => typeof n === "object" && n !== null && "attempts" in n,
    },
  },
);

import { runConformanceTests } from "@portable-pubsub/conformance";
import { MemBroker, MemSubscriptionDriver, MemTopicDriver } from "@portable-pubsub/driver-memory";

const ackDeadlineMs = 1000;

runConformanceTests(
  async () => {
    const broker = new MemBroker();
    const consumer = (topic: string, name: string) =>
      new MemSubscriptionDriver(broker, topic, name, { create: { ackDeadlineMs }, maxWaitMs: 1000, anonymous: false });
    return {
      async createTopic(name) {
        broker.createTopic(name);
        return { driver: new MemTopicDriver(broker, name), id: name, cleanup: async () => broker.deleteTopic(name) };
      },
      async makeNonexistentTopic() {
        return new MemTopicDriver(broker, "no-such-topic");
      },
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
      async makeNonexistentSubscription() {
        broker.createTopic("has-no-subscriptions");
        return new MemSubscriptionDriver(broker, "has-no-subscriptions", "no-such-subscription", {
          create: undefined,
          maxWaitMs: 1000,
          anonymous: false,
        });
      },
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

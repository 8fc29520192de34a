import { runConformanceTests } from "@portable-pubsub/conformance";
import { MemBroker, MemSubscriptionDriver } from "@portable-pubsub/driver-memory";
import { memTopics } from "./mem-harness.js";

const ackDeadlineMs = 1000;

/**
 * mem:// has no server to restart. This stand-in for one takes as long as a small broker does to stop and
 * to start, and fails the restart case when the suite breaks RestartCapability's promise: a stop only once
 * the last start has returned, a start only once the stop has.
 */
function restartInOrder() {
  let state: "up" | "stopping" | "down" | "starting" = "up";
  const take = async (from: "up" | "down", during: typeof state, to: typeof state, ms: number, call: string) => {
    if (state !== from) throw new Error(`${call} called while the broker is ${state}`);
    state = during;
    await new Promise((r) => setTimeout(r, ms));
    state = to;
  };
  return {
    stopBroker: () => take("up", "stopping", "down", 20, "stopBroker"),
    startBroker: () => take("down", "starting", "up", 300, "startBroker"),
    messages: 1500,
  };
}

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
    restart: restartInOrder(),
    native: {
      topic: (n) => n instanceof MemBroker,
      subscription: (n) => n instanceof MemBroker,
      message: (n) => typeof n === "object" && n !== null && "attempts" in n,
    },
  },
);

// How a third party proves its driver: a harness that makes real resources, and one call.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runConformanceTests } from "@portable-pubsub/conformance";
import { createDirSubscription, DirSubscriptionDriver, DirTopicDriver } from "@portable-pubsub/example-file-driver";

runConformanceTests(
  async () => {
    const root = await mkdtemp(join(tmpdir(), "dir-driver-"));
    return {
      async createTopic(name) {
        const dir = join(root, name);
        await createDirSubscription(dir);
        return { driver: new DirTopicDriver(dir), id: dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
      },
      async makeNonexistentTopic() {
        return new DirTopicDriver(join(root, "no-such-topic"));
      },
      async createSubscription(topic, name) {
        await createDirSubscription(topic.id ?? "", name);
        const dir = join(topic.id ?? "", "subscriptions", name);
        return {
          driver: new DirSubscriptionDriver(dir),
          cleanup: () => rm(dir, { recursive: true, force: true }),
          openConsumer: async () => new DirSubscriptionDriver(dir),
        };
      },
      async makeNonexistentSubscription() {
        return new DirSubscriptionDriver(join(root, "no-such-topic", "subscriptions", "none"));
      },
      close: () => rm(root, { recursive: true, force: true }),
    };
  },
  {
    name: "dir (example third-party driver)",
    canNack: true,
    guaranteedOrder: true,
    multipleSubscriptions: true,
    consumerGroups: true,
    native: { topic: (n) => typeof n === "string", subscription: (n) => typeof n === "string" },
  },
);

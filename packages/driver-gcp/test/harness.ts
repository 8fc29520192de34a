import { randomUUID } from "node:crypto";
import type { PubSub } from "@google-cloud/pubsub";
import type { Harness } from "@portable-pubsub/conformance";
import { createPubSub, GcpSubscriptionDriver, GcpTopicDriver } from "@portable-pubsub/driver-gcp";
import { afterAll, afterEach, beforeAll } from "vitest";

export const PROJECT = "portable-pubsub-test";
/** The emulator's minimum ack deadline, which the harness's subscriptions use. */
export const ACK_DEADLINE_SECONDS = 10;

/** A name unique to this run, valid as a topic or subscription id. */
export function uniqueName(prefix: string): string {
  return `${prefix.replace(/[^A-Za-z0-9-]/g, "-").slice(0, 60)}-${randomUUID().slice(0, 8)}`;
}

/**
 * The conformance harness: topics and subscriptions are made and removed
 * through the admin API on `adminEndpoint` (the emulator), while the drivers
 * under test speak to `driverEndpoint` (the emulator, or a fault proxy in
 * front of it).
 */
export function gcpHarness(adminEndpoint: string, driverEndpoint = adminEndpoint): Harness & { drivers: PubSub } {
  const admin = createPubSub(PROJECT, { apiEndpoint: adminEndpoint });
  const drivers = createPubSub(PROJECT, { apiEndpoint: driverEndpoint });
  return {
    drivers,
    async createTopic(testName) {
      const [topic] = await admin.createTopic(uniqueName(testName));
      return {
        driver: new GcpTopicDriver(drivers, topic.name),
        id: topic.name,
        cleanup: async () => {
          await topic.delete();
        },
      };
    },
    async makeNonexistentTopic() {
      return new GcpTopicDriver(drivers, `projects/${PROJECT}/topics/${uniqueName("missing-topic")}`);
    },
    async createSubscription(topic, testName) {
      const [subscription] = await admin
        .topic(topic.id ?? "")
        .createSubscription(uniqueName(testName), { ackDeadlineSeconds: ACK_DEADLINE_SECONDS });
      return {
        driver: new GcpSubscriptionDriver(drivers, subscription.name),
        openConsumer: async () => new GcpSubscriptionDriver(drivers, subscription.name),
        cleanup: async () => {
          await subscription.delete();
        },
      };
    },
    async makeNonexistentSubscription() {
      return new GcpSubscriptionDriver(drivers, `projects/${PROJECT}/subscriptions/${uniqueName("missing-sub")}`);
    },
    async close() {
      await Promise.all([admin.close(), drivers.close()]);
    },
  };
}

/**
 * For a describe block against the emulator: an admin client and a client for
 * the drivers under test, made before its tests and closed after them, and
 * cleanups run after each test, last added first.
 */
export function emulatorClients(address: string | undefined) {
  const clients = {
    admin: undefined as unknown as PubSub,
    client: undefined as unknown as PubSub,
    cleanups: [] as (() => Promise<unknown>)[],
  };
  beforeAll(() => {
    clients.admin = createPubSub(PROJECT, { apiEndpoint: address });
    clients.client = createPubSub(PROJECT, { apiEndpoint: address });
  });
  afterEach(async () => {
    for (const cleanup of clients.cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  });
  afterAll(async () => {
    await Promise.all([clients.admin?.close(), clients.client?.close()]);
  });
  return clients;
}

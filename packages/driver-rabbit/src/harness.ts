/**
 * A conformance harness for rabbit:// (the shape of
 * `@portable-pubsub/conformance`'s Harness, without depending on it): a
 * topic is an exchange, a subscription is a queue bound to it. Exported so
 * that the CLI, examples and custom setups can run the suite or reuse it.
 */
import { randomUUID } from "node:crypto";
import type { Channel } from "amqplib";
import { connectRabbit, type RabbitConnection } from "./connection.js";
import type { RabbitConnectionSettings } from "./settings.js";
import { type RabbitSubscriptionDriver, rabbitSubscriptionDriver } from "./subscription.js";
import { type RabbitTopicDriver, rabbitTopicDriver } from "./topic.js";

/** How {@link createRabbitHarness} connects. */
export interface RabbitHarnessOptions {
  /** Settings of the connection the drivers under test use (point it at a fault proxy, for instance). */
  settings?: RabbitConnectionSettings;
  /** Settings of the connection that creates and deletes exchanges and queues. Default: `settings`. */
  adminSettings?: RabbitConnectionSettings;
  /** Prefetch of the subscriptions. Default 100. */
  prefetch?: number;
  /** Declare durable exchanges and queues, which keep (persistent) messages across a broker restart. Default false. */
  durable?: boolean;
}

interface Created<D> {
  driver: D;
  cleanup(): Promise<void>;
  id?: string;
}

/** What the harness offers; structurally the conformance suite's Harness. */
export interface RabbitHarness {
  readonly connection: RabbitConnection;
  createTopic(testName: string): Promise<Created<RabbitTopicDriver>>;
  makeNonexistentTopic(): Promise<RabbitTopicDriver>;
  createSubscription(
    topic: { id?: string },
    testName: string,
  ): Promise<Created<RabbitSubscriptionDriver> & { openConsumer(): Promise<RabbitSubscriptionDriver> }>;
  makeNonexistentSubscription(): Promise<RabbitSubscriptionDriver>;
  close(): Promise<void>;
}

/** Creates a harness; it holds two connections (drivers, admin) until `close`. */
export async function createRabbitHarness(options: RabbitHarnessOptions = {}): Promise<RabbitHarness> {
  const connection = connectRabbit(options.settings ?? {});
  const admin = connectRabbit(options.adminSettings ?? options.settings ?? {});
  const prefetch = options.prefetch ?? 100;
  const durable = options.durable ?? false;
  await admin.model();
  const onAdmin = async (work: (channel: Channel) => Promise<unknown>) => {
    const channel = await (await admin.model()).createChannel();
    channel.on("error", () => {});
    try {
      await work(channel);
    } finally {
      await channel.close().catch(() => {});
    }
  };
  const unique = (name: string) => `pps-${name.slice(0, 60)}-${randomUUID().slice(0, 8)}`;
  const consumer = async (queue: string) => {
    const driver = rabbitSubscriptionDriver(connection, queue, { prefetch });
    await driver.whenReady();
    return driver;
  };
  return {
    connection,
    async createTopic(testName) {
      const exchange = unique(testName);
      await onAdmin((ch) => ch.assertExchange(exchange, "fanout", { durable }));
      const driver = rabbitTopicDriver(connection, exchange);
      await driver.whenReady();
      return {
        driver,
        id: exchange,
        cleanup: () => onAdmin((ch) => ch.deleteExchange(exchange)),
      };
    },
    async makeNonexistentTopic() {
      return rabbitTopicDriver(connection, `pps-missing-${randomUUID()}`);
    },
    async createSubscription(topic, testName) {
      const queue = unique(testName);
      await onAdmin(async (ch) => {
        await ch.assertQueue(queue, { durable });
        if (topic.id !== undefined) await ch.bindQueue(queue, topic.id, "");
      });
      return {
        driver: await consumer(queue),
        id: queue,
        cleanup: () => onAdmin((ch) => ch.deleteQueue(queue)),
        openConsumer: () => consumer(queue),
      };
    },
    async makeNonexistentSubscription() {
      return rabbitSubscriptionDriver(connection, `pps-missing-${randomUUID()}`, { prefetch });
    },
    async close() {
      await Promise.all([connection.close(), admin.close()]);
    },
  };
}

/**
 * The conformance harness for rabbit://, used by conformance.test.ts: a
 * topic is a fanout exchange, a subscription is a queue bound to it.
 * Exchanges and queues are made and removed on an admin connection, so that
 * the drivers under test may go through a fault proxy.
 */
import { randomUUID } from "node:crypto";
import type { Created, CreatedSubscription, Harness } from "@portable-pubsub/conformance";
import {
  connectRabbit,
  delayQueueNames as delayQueuesOf,
  type RabbitConnectionSettings,
  type RabbitSubscriptionDriver,
  type RabbitTopicDriver,
  rabbitSubscriptionDriver,
  rabbitTopicDriver,
} from "@portable-pubsub/driver-rabbit";
import type { Channel } from "amqplib";

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

/** How long a created driver may take to become ready. */
const READY_MS = 30_000;

/** Creates a harness; it holds two connections (drivers, admin) until `close`. */
export async function createRabbitHarness(options: RabbitHarnessOptions = {}): Promise<Harness> {
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
  const ready = async <D extends RabbitTopicDriver | RabbitSubscriptionDriver>(driver: D): Promise<D> => {
    await driver.ready(AbortSignal.timeout(READY_MS));
    return driver;
  };
  const consumer = (queue: string) => ready(rabbitSubscriptionDriver(connection, queue, { prefetch }));
  return {
    async createTopic(testName): Promise<Created<RabbitTopicDriver>> {
      const exchange = unique(testName);
      await onAdmin((ch) => ch.assertExchange(exchange, "fanout", { durable }));
      return {
        driver: await ready(rabbitTopicDriver(connection, exchange)),
        id: exchange,
        cleanup: () => onAdmin((ch) => ch.deleteExchange(exchange)),
      };
    },
    async makeNonexistentTopic() {
      return rabbitTopicDriver(connection, `pps-missing-${randomUUID()}`);
    },
    async createSubscription(topic, testName): Promise<CreatedSubscription> {
      const queue = unique(testName);
      await onAdmin(async (ch) => {
        await ch.assertQueue(queue, { durable });
        if (topic.id !== undefined) await ch.bindQueue(queue, topic.id, "");
      });
      return {
        driver: await consumer(queue),
        id: queue,
        // With the delay queues that redeliveries may have made.
        cleanup: () =>
          onAdmin(async (ch) => {
            await ch.deleteQueue(queue);
            for (const name of delayQueuesOf(queue)) await ch.deleteQueue(name);
          }),
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

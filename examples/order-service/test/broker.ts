import { skipUnlessReachable } from "@portable-pubsub/conformance";
import { openTopic } from "@portable-pubsub/core";
import { delayQueueNames } from "@portable-pubsub/driver-rabbit";

export const RABBIT = { host: "127.0.0.1", port: 5672, serverUrl: "amqp://guest:guest@127.0.0.1:5672" };

/** Tests that need RabbitMQ skip without it, except on CI, where they fail. */
export const skipWithoutRabbit = await skipUnlessReachable(RABBIT);

/** Deletes the test's queue and exchange through a rabbit:// topic's own channel. */
export async function removeTopology(exchange: string, ...queues: string[]): Promise<void> {
  const topic = await openTopic(`rabbit://${exchange}`, { serverUrl: RABBIT.serverUrl });
  const channel = topic.as<{ deleteQueue(q: string): Promise<unknown>; deleteExchange(e: string): Promise<unknown> }>();
  for (const queue of queues) {
    for (const name of [queue, ...delayQueueNames(queue)]) await channel.deleteQueue(name).catch(() => {});
  }
  await channel.deleteExchange(exchange).catch(() => {});
  await topic.shutdown({ signal: AbortSignal.timeout(5000) }).catch(() => {});
}

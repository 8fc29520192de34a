import { randomUUID } from "node:crypto";
import { reachable } from "@portable-pubsub/conformance";
import { type Message, openSubscription, type Subscription } from "@portable-pubsub/core";
import { removeExchangeAndQueue } from "../../driver-rabbit/test/support.js";

/** The shared RabbitMQ of the outbox tests. */
export const RABBIT = { host: "127.0.0.1", port: 5672, serverUrl: "amqp://guest:guest@127.0.0.1:5672" };

/** For the outbox tests that send to RabbitMQ: an unreachable broker fails them (they run under CI=true). */
export async function requireRabbit(): Promise<void> {
  if (!(await reachable(RABBIT))) {
    throw new Error(`RabbitMQ is not reachable at ${RABBIT.host}:${RABBIT.port}; start it (rabbitmq-server -detached)`);
  }
}

/** An exchange for the relay to send to, a queue bound to it that the test reads, and their removal. */
export interface RabbitTarget {
  /** The topic URL to give `outbox.send`: `rabbit://EXCHANGE`, no credentials. */
  url: string;
  exchange: string;
  queue: string;
  subscription: Subscription;
  /** Starts processing the queue; returns the array every received message is pushed to (acked). */
  collect(): Message[];
  /** Shuts the subscription down and deletes the queue, its delay queues and the exchange. */
  remove(): Promise<void>;
}

/** Declares an exchange and a queue bound to it, both named for this run, on the shared broker or `serverUrl`'s. */
export async function rabbitTarget(prefix: string, serverUrl = RABBIT.serverUrl): Promise<RabbitTarget> {
  const exchange = `pps-${prefix}-${randomUUID().slice(0, 8)}`;
  const queue = `${exchange}-q`;
  const subscription = await openSubscription(`rabbit://${queue}?declare=true&exchange=${exchange}`, { serverUrl });
  return {
    url: `rabbit://${exchange}`,
    exchange,
    queue,
    subscription,
    collect() {
      const got: Message[] = [];
      subscription
        .process(async (m) => {
          got.push(m);
        })
        .catch(() => {});
      return got;
    },
    async remove() {
      await subscription.shutdown({ signal: AbortSignal.timeout(5000) }).catch(() => {});
      await removeExchangeAndQueue(exchange, queue, serverUrl);
    },
  };
}

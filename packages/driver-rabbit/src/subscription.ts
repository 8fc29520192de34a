/**
 * `rabbit://QUEUE` subscriptions: a SubscriptionDriver that consumes one
 * queue through a QueueConsumer on the shared, self-healing connection.
 */
import {
  type DriverMessage,
  invalidArgument,
  param,
  parseOptions,
  Subscription,
  type SubscriptionDriver,
  type SubscriptionOptions,
} from "@portable-pubsub/core/driver";
import type { Channel } from "amqplib";
import { z } from "zod";
import type { RabbitConnection } from "./amqp/connection.js";
import { buildOn, type RabbitTarget } from "./amqp/shared.js";
import { QueueConsumer, type RabbitAckId } from "./consumer.js";
import { argumentsOf, declareOn, type QueueType } from "./declare.js";
import { RabbitDriver } from "./driver-base.js";

/** Options of {@link openRabbitSubscription}, besides the portable ones. */
export interface RabbitSubscriptionOptions extends SubscriptionOptions {
  /**
   * Most unacked messages the broker sends ahead of acks (basic.qos).
   * Default: automatic, keeping about 32 MiB unacked (at most 500 messages,
   * fewer as messages grow: 32 of 1 MiB); see the package README.
   */
  prefetch?: number;
  /** How long one receive waits for a message when none is buffered, in ms. Default 1000. */
  maxWaitMs?: number;
  /**
   * Declare the queue (durable) if it is missing and, with `exchange`, bind
   * it to that exchange (declared as `exchangeType`, default "topic") with
   * `bindingKey` (default "#"). `queueType: "quorum"` declares a quorum
   * queue, replicated over a cluster's nodes (see the package README).
   * Default: do not declare.
   */
  declare?:
    | boolean
    | { durable?: boolean; queueType?: QueueType; exchange?: string; exchangeType?: string; bindingKey?: string };
}

/** The driver's own options; the portable ones pass through unchecked here (Subscription checks them). */
const consumeOptions = z.object({
  prefetch: param.int(1, 65535).optional(),
  maxWaitMs: param.duration().default(1000),
});

/** The SubscriptionDriver for one queue. Use it through `Subscription`; see {@link openRabbitSubscription}. */
export class RabbitSubscriptionDriver extends RabbitDriver<Channel> implements SubscriptionDriver {
  readonly canNack = true;
  protected readonly session: QueueConsumer;
  readonly #maxWaitMs: number;

  constructor(connection: RabbitConnection, queue: string, options: RabbitSubscriptionOptions, owned: boolean) {
    super(connection, owned, `queue "${queue}"`, {
      destination: queue,
      messageAttributes: (m) => {
        const tag = (m.ackId as RabbitAckId | undefined)?.deliveryTag;
        return tag === undefined ? undefined : { "messaging.rabbitmq.message.delivery_tag": tag };
      },
    });
    const { prefetch, maxWaitMs } = parseOptions(consumeOptions, options, "rabbit");
    this.#maxWaitMs = maxWaitMs;
    const declare = options.declare;
    const declaration = declare
      ? {
          queue: {
            name: queue,
            ...(declare === true
              ? {}
              : {
                  durable: declare.durable,
                  type: declare.queueType,
                  bindTo: declare.exchange,
                  exchangeType: declare.exchangeType,
                  bindingKey: declare.bindingKey,
                }),
          },
        }
      : undefined;
    // A bad combination fails here, at open, rather than on every reconnect.
    if (declaration) argumentsOf(declaration.queue);
    this.session = new QueueConsumer(connection, {
      queue,
      prefetch,
      ...(declaration ? { setup: (channel: Channel) => declareOn(channel, declaration) } : {}),
    });
  }

  /**
   * Returns up to `maxMessages` buffered deliveries, waiting at most
   * `maxWaitMs` for the first. Throws, once, what stopped consuming (NotFound
   * for a deleted queue); the next call consumes again.
   */
  receiveBatch(maxMessages: number, signal: AbortSignal): Promise<DriverMessage[]> {
    return this.session.receive(maxMessages, this.#maxWaitMs, signal);
  }

  /** Acks on the current channel; ackIds of a dead channel are dropped, since the broker requeued those deliveries. */
  async sendAcks(ackIds: unknown[]): Promise<void> {
    this.session.ack(ackIds);
  }

  /** Requeues at once (basic.nack with requeue); ackIds of a dead channel are dropped, as for acks. */
  async sendNacks(ackIds: unknown[]): Promise<void> {
    this.session.nack(ackIds);
  }
}

/**
 * Opens a Subscription to `queue`. `target` is a connection of yours (from
 * `connectRabbit`; never closed by the subscription) or settings for the
 * shared connection. Consuming starts at once and resumes by itself after
 * any loss.
 */
export function openRabbitSubscription(
  target: RabbitTarget,
  queue: string,
  options: RabbitSubscriptionOptions = {},
): Subscription {
  return new Subscription(rabbitSubscriptionDriver(target, queue, options), options);
}

/** The driver behind {@link openRabbitSubscription}, for code that wraps drivers (such as test harnesses). */
export function rabbitSubscriptionDriver(
  target: RabbitTarget,
  queue: string,
  options: RabbitSubscriptionOptions = {},
): RabbitSubscriptionDriver {
  if (typeof queue !== "string" || queue === "")
    throw invalidArgument("rabbit: the queue name must be a non-empty string");
  return buildOn(
    target,
    "consume",
    (connection, owned) => new RabbitSubscriptionDriver(connection, queue, options, owned),
  );
}

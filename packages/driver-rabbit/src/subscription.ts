/**
 * `rabbit://QUEUE` subscriptions: a SubscriptionDriver that consumes one
 * queue through a QueueConsumer on the shared, self-healing connection.
 */
import {
  type DriverMessage,
  ErrorCode,
  invalidArgument,
  type NoticeSource,
  param,
  parseOptions,
  type Redelivery,
  resourceUrl,
  Subscription,
  type SubscriptionDriver,
  type SubscriptionOptions,
} from "@portable-pubsub/core/driver";
import type { Channel } from "amqplib";
import { z } from "zod";
import type { RabbitConnection } from "./amqp/connection.js";
import { acquireConnection, buildOn, type RabbitTarget } from "./amqp/shared.js";
import { QueueConsumer, type RabbitAckId } from "./consumer.js";
import { argumentsOf, declareOn, type QueueType } from "./declare.js";
import { DEFAULT_DELAY_QUEUE_EXPIRES_MS } from "./delay-queues.js";
import { RabbitDriver } from "./driver-base.js";
import { RabbitError } from "./errors.js";
import { Redeliverer } from "./redeliverer.js";

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
  /**
   * How long a delay queue (where a failed message waits out its
   * redelivery delay; see the package README) stays after it was last
   * declared, in ms; at least four times its delay. Every subscription to one
   * queue must use the same value: the broker refuses to declare a delay
   * queue again with another (FailedPrecondition). Default 30 minutes.
   */
  delayQueueExpiresMs?: number;
}

/** The driver's own options; the portable ones pass through unchecked here (Subscription checks them). */
const consumeOptions = z.object({
  prefetch: param.int(1, 65535).optional(),
  maxWaitMs: param.duration().default(1000),
  delayQueueExpiresMs: param.duration().default(DEFAULT_DELAY_QUEUE_EXPIRES_MS),
});

/** The SubscriptionDriver for one queue. Use it through `Subscription`; see {@link openRabbitSubscription}. */
export class RabbitSubscriptionDriver extends RabbitDriver<Channel> implements SubscriptionDriver {
  readonly canNack = true;
  protected readonly session: QueueConsumer;
  readonly #maxWaitMs: number;
  readonly #queue: string;
  readonly #owned: boolean;
  readonly #delayQueueExpiresMs: number;
  /** Made at the first redelivery, with the publishing connection it uses. */
  #redelivery: { redeliverer: Redeliverer; connection: RabbitConnection } | undefined;
  #closed = false;
  /** `rabbit://QUEUE`: what `deadletter.source` says of a subscription made with the constructor. */
  readonly url: string;

  constructor(connection: RabbitConnection, queue: string, options: RabbitSubscriptionOptions, owned: boolean) {
    super(connection, owned, `queue "${queue}"`, {
      destination: queue,
      messageAttributes: (m) => {
        const tag = (m.ackId as RabbitAckId | undefined)?.id;
        return tag === undefined ? undefined : { "messaging.rabbitmq.message.delivery_tag": tag };
      },
    });
    const { prefetch, maxWaitMs, delayQueueExpiresMs } = parseOptions(consumeOptions, options, "rabbit");
    this.#maxWaitMs = maxWaitMs;
    this.#queue = queue;
    this.url = resourceUrl("rabbit", queue);
    this.#owned = owned;
    this.#delayQueueExpiresMs = Math.ceil(delayQueueExpiresMs);
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

  /** Acks and nacks dropped because their channel closed, for the application's logger. */
  get notices(): NoticeSource {
    return this.session.notices;
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

  /**
   * Republishes a copy of each failed message, with the failed attempts in
   * a header: straight back to the queue for a delay of 0, else to the
   * queue's delay queue for the delay rounded up to its bucket, which hands
   * it back when the delay has passed. Returns only after the broker
   * confirmed every copy and the originals were acked; on error, the
   * originals of copies not confirmed are still unacked. Publishes on the
   * publishing connection of the subscription's settings (or on your
   * connection, if you gave one), opened at the first call.
   */
  async redeliver(redeliveries: Redelivery[], signal: AbortSignal): Promise<void> {
    await this.#redeliverer().redeliver(redeliveries, signal);
  }

  #redeliverer(): Redeliverer {
    if (!this.#redelivery) {
      if (this.#closed) {
        throw new RabbitError("the subscription is closed", { portable: ErrorCode.FailedPrecondition });
      }
      const connection = this.#owned ? acquireConnection(this.connection.settings, "publish") : this.connection;
      const redeliverer = new Redeliverer(connection, {
        queue: this.#queue,
        consumer: this.session,
        delayQueueExpiresMs: this.#delayQueueExpiresMs,
      });
      this.#redelivery = { redeliverer, connection };
    }
    return this.#redelivery.redeliverer;
  }

  /**
   * Waits for the confirms of copies in flight (their originals are acked
   * only then), then stops consuming and closes, within `signal`'s deadline.
   */
  override async close(signal: AbortSignal): Promise<void> {
    this.#closed = true;
    const redelivery = this.#redelivery;
    if (redelivery) {
      await redelivery.redeliverer.close(signal);
      if (this.#owned) await redelivery.connection.release(signal);
    }
    await super.close(signal);
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

/**
 * `rabbit://QUEUE` subscriptions: a SubscriptionDriver that consumes one
 * queue through a QueueConsumer on the shared, self-healing connection.
 */
import {
  type DriverMessage,
  type ErrorCode,
  type HealthSource,
  invalidArgument,
  Subscription,
  type SubscriptionDriver,
  type SubscriptionOptions,
} from "@portable-pubsub/core";
import type { Channel } from "amqplib";
import { connectionFor, type RabbitConnection } from "./connection.js";
import { QueueConsumer } from "./consumer.js";
import { declareOn } from "./declare.js";
import { isRetryableRabbitError, rabbitErrorCode } from "./errors.js";
import type { RabbitConnectionSettings } from "./settings.js";

/** Options of {@link openRabbitSubscription}, besides the portable ones. */
export interface RabbitSubscriptionOptions extends SubscriptionOptions {
  /** Most unacked messages the broker sends ahead of acks (basic.qos). Default 100. */
  prefetch?: number;
  /** How long one receive waits for a message when none is buffered, in ms. Default 1000. */
  maxWaitMs?: number;
  /**
   * Declare the queue (durable) if it is missing and, with `exchange`, bind
   * it to that exchange (declared as `exchangeType`, default "topic") with
   * `bindingKey` (default "#"). Default: do not declare.
   */
  declare?: boolean | { durable?: boolean; exchange?: string; exchangeType?: string; bindingKey?: string };
}

/** The SubscriptionDriver for one queue. Use it through `Subscription`; see {@link openRabbitSubscription}. */
export class RabbitSubscriptionDriver implements SubscriptionDriver {
  readonly resource: string;
  readonly health: HealthSource;
  readonly canNack = true;
  readonly #connection: RabbitConnection;
  readonly #owned: boolean;
  readonly #consumer: QueueConsumer;
  readonly #maxWaitMs: number;

  constructor(connection: RabbitConnection, queue: string, options: RabbitSubscriptionOptions, owned: boolean) {
    this.#connection = connection;
    this.#owned = owned;
    this.health = connection.health;
    this.resource = `rabbit queue "${queue}" on ${connection.display}`;
    const prefetch = options.prefetch ?? 100;
    if (!Number.isInteger(prefetch) || prefetch < 1 || prefetch > 65535) {
      throw invalidArgument(`rabbit: prefetch must be an integer from 1 to 65535, got ${String(options.prefetch)}`);
    }
    this.#maxWaitMs = options.maxWaitMs ?? 1000;
    const declare = options.declare;
    const declaration = declare
      ? {
          queue: {
            name: queue,
            ...(declare === true
              ? {}
              : {
                  durable: declare.durable,
                  bindTo: declare.exchange,
                  exchangeType: declare.exchangeType,
                  bindingKey: declare.bindingKey,
                }),
          },
        }
      : undefined;
    this.#consumer = new QueueConsumer(connection, {
      queue,
      prefetch,
      resource: `queue "${queue}"`,
      ...(declaration ? { setup: (channel: Channel) => declareOn(channel, declaration) } : {}),
    });
  }

  /**
   * Resolves once consuming (connected, queue declared if asked, consumer
   * registered). Rejects when the first connection fails fast, the queue is
   * missing (NotFound) or the declaration fails.
   */
  whenReady(): Promise<void> {
    return this.#consumer.whenConsuming();
  }

  /** The connection this subscription consumes through. */
  get connection(): RabbitConnection {
    return this.#connection;
  }

  receiveBatch(maxMessages: number, signal: AbortSignal): Promise<DriverMessage[]> {
    return this.#consumer.receive(maxMessages, this.#maxWaitMs, signal);
  }

  async sendAcks(ackIds: unknown[]): Promise<void> {
    this.#consumer.ack(ackIds);
  }

  async sendNacks(ackIds: unknown[]): Promise<void> {
    this.#consumer.nack(ackIds);
  }

  isRetryable(err: unknown): boolean {
    return isRetryableRabbitError(err);
  }

  errorCode(err: unknown): ErrorCode {
    return rabbitErrorCode(err);
  }

  /** The amqplib Channel consuming now; undefined while the connection is being recovered. */
  native(): Channel | undefined {
    return this.#consumer.channel;
  }

  async close(signal: AbortSignal): Promise<void> {
    await this.#consumer.close(signal);
    if (this.#owned) await this.#connection.release(signal);
  }
}

/**
 * Opens a Subscription to `queue`. `target` is a connection of yours (from
 * `connectRabbit`; never closed by the subscription) or settings for the
 * shared connection. Consuming starts at once and resumes by itself after
 * any loss.
 */
export function openRabbitSubscription(
  target: RabbitConnection | RabbitConnectionSettings | undefined,
  queue: string,
  options: RabbitSubscriptionOptions = {},
): Subscription {
  return new Subscription(rabbitSubscriptionDriver(target, queue, options), options);
}

/** The driver behind {@link openRabbitSubscription}, for code that wraps drivers (such as test harnesses). */
export function rabbitSubscriptionDriver(
  target: RabbitConnection | RabbitConnectionSettings | undefined,
  queue: string,
  options: RabbitSubscriptionOptions = {},
): RabbitSubscriptionDriver {
  if (typeof queue !== "string" || queue === "")
    throw invalidArgument("rabbit: the queue name must be a non-empty string");
  const { connection, owned } = connectionFor(target);
  try {
    return new RabbitSubscriptionDriver(connection, queue, options, owned);
  } catch (err) {
    if (owned) void connection.release();
    throw err;
  }
}

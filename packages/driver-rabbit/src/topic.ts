/**
 * `rabbit://EXCHANGE` topics: a TopicDriver that publishes to one exchange
 * through a ConfirmPublisher on the shared, self-healing connection.
 */
import {
  type DriverMessage,
  type ErrorCode,
  type HealthSource,
  invalidArgument,
  Topic,
  type TopicDriver,
  type TopicOptions,
} from "@portable-pubsub/core";
import type { ConfirmChannel } from "amqplib";
import { checkAmqpLimits } from "./codec.js";
import { ConfirmPublisher } from "./confirm-publisher.js";
import { connectionFor, type RabbitConnection } from "./connection.js";
import { declareOn } from "./declare.js";
import { isRetryableRabbitError, rabbitErrorCode } from "./errors.js";
import type { RabbitConnectionSettings } from "./settings.js";

/** Options of {@link openRabbitTopic}, besides the portable ones. */
export interface RabbitTopicOptions extends TopicOptions {
  /** The routing key of every message. Default "". */
  routingKey?: string;
  /** Take each message's routing key from this metadata key (falling back to `routingKey`). */
  routingKeyFrom?: string;
  /** Send persistent messages (delivery mode 2), which durable queues keep across broker restarts. Default true. */
  persistent?: boolean;
  /** Fail a send that no queue receives (publish with mandatory). Default true. */
  mandatory?: boolean;
  /** Most messages queued or awaiting confirms at once; sends beyond it wait. Default 10000. */
  maxBuffered?: number;
  /** Declare the exchange (durable) if it is missing, as this type. Default: do not declare. */
  declare?: boolean | { type?: string; durable?: boolean };
}

/** The TopicDriver for one exchange. Use it through `Topic`; see {@link openRabbitTopic}. */
export class RabbitTopicDriver implements TopicDriver {
  readonly resource: string;
  readonly health: HealthSource;
  readonly #connection: RabbitConnection;
  readonly #owned: boolean;
  readonly #publisher: ConfirmPublisher;
  readonly #routingKey: (message: DriverMessage) => string;
  /**
   * Confirms arrive one by one, but a batch's sends settle together when its
   * last confirm arrives. Batches of at most 128 let a caller's sends settle
   * (and its next ones start) while the rest are still in flight, as a
   * sliding confirm window does; with the default 8 batches in flight that is
   * about 1,000 unconfirmed messages. Raise `batching.maxConcurrentBatches`
   * for more on a high-latency link.
   */
  readonly batchLimits = { maxItems: 128 };

  constructor(connection: RabbitConnection, exchange: string, options: RabbitTopicOptions, owned: boolean) {
    this.#connection = connection;
    this.#owned = owned;
    this.health = connection.health;
    this.resource = `rabbit exchange "${exchange}" on ${connection.display}`;
    const { routingKey = "", routingKeyFrom, declare } = options;
    const maxBuffered = options.maxBuffered ?? 10_000;
    if (!Number.isInteger(maxBuffered) || maxBuffered < 1) {
      throw invalidArgument(`rabbit: maxBuffered must be a positive integer, got ${String(options.maxBuffered)}`);
    }
    const declaration = declare ? { exchange: { name: exchange, ...(declare === true ? {} : declare) } } : undefined;
    this.#routingKey = routingKeyFrom ? (m) => m.metadata[routingKeyFrom] ?? routingKey : () => routingKey;
    this.#publisher = new ConfirmPublisher(connection, {
      exchange,
      routingKey: this.#routingKey,
      persistent: options.persistent ?? true,
      mandatory: options.mandatory ?? true,
      maxBuffered,
      resource: `exchange "${exchange}"`,
      ...(declaration ? { setup: (channel: ConfirmChannel) => declareOn(channel, declaration) } : {}),
    });
  }

  /**
   * Resolves once the topic can publish (connected, channel open, exchange
   * declared if asked). Rejects when the first connection fails fast or the
   * declaration fails.
   */
  whenReady(): Promise<void> {
    return this.#publisher.whenOpen();
  }

  /** The connection this topic publishes through. */
  get connection(): RabbitConnection {
    return this.#connection;
  }

  /** Messages queued or awaiting their confirms. */
  get outstanding(): number {
    return this.#publisher.outstanding;
  }

  /**
   * Refuses, alone and before batching, a message AMQP cannot carry: a
   * header name over 255 bytes, headers over amqplib's 64 KiB table buffer,
   * or a routing key over 255 bytes.
   */
  checkMessage(message: DriverMessage): void {
    checkAmqpLimits(message, this.#routingKey(message));
  }

  sendBatch(messages: DriverMessage[], signal: AbortSignal): Promise<void> {
    return this.#publisher.publish(messages, signal);
  }

  isRetryable(err: unknown): boolean {
    return isRetryableRabbitError(err);
  }

  errorCode(err: unknown): ErrorCode {
    return rabbitErrorCode(err);
  }

  /** The amqplib ConfirmChannel in use now; undefined while the connection is being recovered. */
  native(): ConfirmChannel | undefined {
    return this.#publisher.channel;
  }

  async close(signal: AbortSignal): Promise<void> {
    await this.#publisher.close(signal);
    if (this.#owned) await this.#connection.release(signal);
  }
}

/**
 * Opens a Topic that publishes to `exchange`. `target` is a connection of
 * yours (from `connectRabbit`; the topic never closes it) or settings for the
 * shared connection (closed when its last user shuts down). The topic starts
 * connecting at once; sends wait until it is connected.
 */
export function openRabbitTopic(
  target: RabbitConnection | RabbitConnectionSettings | undefined,
  exchange: string,
  options: RabbitTopicOptions = {},
): Topic {
  return new Topic(rabbitTopicDriver(target, exchange, options), options);
}

/** The driver behind {@link openRabbitTopic}, for code that wraps drivers (such as test harnesses). */
export function rabbitTopicDriver(
  target: RabbitConnection | RabbitConnectionSettings | undefined,
  exchange: string,
  options: RabbitTopicOptions = {},
): RabbitTopicDriver {
  if (typeof exchange !== "string") throw invalidArgument("rabbit: the exchange name must be a string");
  const { connection, owned } = connectionFor(target);
  try {
    return new RabbitTopicDriver(connection, exchange, options, owned);
  } catch (err) {
    if (owned) void connection.release();
    throw err;
  }
}

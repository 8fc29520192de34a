/**
 * `rabbit://EXCHANGE` topics: a TopicDriver that publishes to one exchange
 * through a ConfirmPublisher on the shared, self-healing connection.
 */
import {
  type DriverMessage,
  ErrorCode,
  invalidArgument,
  PubSubError,
  param,
  parseOptions,
  Topic,
  type TopicDriver,
  type TopicOptions,
} from "@portable-pubsub/core/driver";
import type { ConfirmChannel } from "amqplib";
import { z } from "zod";
import type { RabbitConnection } from "./amqp/connection.js";
import { buildOn, type RabbitTarget } from "./amqp/shared.js";
import { checkAmqpLimits } from "./codec.js";
import { DEFAULT_CONFIRM_TIMEOUT_MS } from "./confirm-deadline.js";
import { ConfirmPublisher } from "./confirm-publisher.js";
import { declareOn, type TopologyDeclaration } from "./declare.js";
import { RabbitDriver } from "./driver-base.js";

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
  /**
   * Declare the exchange (durable) if it is missing, as this type. With
   * `deadLetterTarget`, also declare a durable queue of the exchange's name,
   * bound so that it receives every message. Default: do not declare.
   */
  declare?: boolean | { type?: string; durable?: boolean };
  /**
   * The name given is a queue's, not an exchange's: publish through the
   * default exchange with that name as routing key, so that this queue alone
   * receives each message (`rabbit://QUEUE?toQueue=true`). The open fails
   * with NotFound when the queue is missing. `routingKey`, `routingKeyFrom`
   * and `declare` do not apply. Default false.
   */
  toQueue?: boolean;
  /**
   * How long a message may wait for the broker's confirm, in ms, while the
   * connection stays up (a lost frame, a broker that skipped one delivery
   * tag), before its channel counts as dead: a new channel publishes again
   * what the old one left unconfirmed, with the same message ids. Time while
   * the broker blocks publishing does not count. Default 20000.
   */
  confirmTimeoutMs?: number;
}

/** The driver's own options that need checking; the rest are checked where they are used, the portable ones by Topic. */
const publishOptions = z.object({ confirmTimeoutMs: param.duration().default(DEFAULT_CONFIRM_TIMEOUT_MS) });

/** The TopicDriver for one exchange. Use it through `Topic`; see {@link openRabbitTopic}. */
export class RabbitTopicDriver extends RabbitDriver<ConfirmChannel> implements TopicDriver {
  protected readonly session: ConfirmPublisher;
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

  constructor(connection: RabbitConnection, name: string, options: RabbitTopicOptions, owned: boolean) {
    const { routingKey = "", routingKeyFrom, toQueue = false } = options;
    // Through the default exchange, a queue's name is the routing key that reaches it alone.
    const exchange = toQueue ? "" : name;
    const keyOf = toQueue
      ? () => name
      : routingKeyFrom
        ? (m: DriverMessage) => m.metadata[routingKeyFrom] ?? routingKey
        : () => routingKey;
    super(connection, owned, toQueue ? `queue "${name}" (through the default exchange)` : `exchange "${name}"`, {
      destination: name,
      messageAttributes: (m) => ({ "messaging.rabbitmq.destination.routing_key": keyOf(m) }),
    });
    const declaration = topicDeclaration(name, options);
    this.#routingKey = keyOf;
    // The default exchange ("") always exists and cannot be checked; any other must, or opening fails with NotFound.
    const setup = toQueue
      ? async (channel: ConfirmChannel) => void (await channel.checkQueue(name))
      : declaration
        ? (channel: ConfirmChannel) => declareOn(channel, declaration)
        : exchange === ""
          ? undefined
          : async (channel: ConfirmChannel) => void (await channel.checkExchange(exchange));
    this.session = new ConfirmPublisher(connection, {
      exchange,
      routingKey: this.#routingKey,
      persistent: options.persistent ?? true,
      mandatory: options.mandatory ?? true,
      owner: "topic",
      confirmTimeoutMs: parseOptions(publishOptions, options, "rabbit").confirmTimeoutMs,
      ...(setup ? { setup } : {}),
    });
  }

  /** Messages handed to `sendBatch` and not yet settled: queued for a channel or awaiting their confirms. */
  get outstanding(): number {
    return this.session.outstanding;
  }

  /**
   * Refuses, alone and before batching, a message AMQP cannot carry: a
   * header name over 255 bytes, headers over amqplib's 64 KiB table buffer,
   * a routing key over 255 bytes, or properties too large for one frame of
   * the connection's frame_max. (A message checked before the connection
   * negotiated a smaller frame_max is checked again before it is written.)
   */
  checkMessage(message: DriverMessage): void {
    checkAmqpLimits(message, this.#routingKey(message), this.connection.frameMax);
  }

  /**
   * Publishes `messages` with mandatory on a confirm channel, after every
   * message of earlier calls, and resolves on the broker's confirms. While
   * the connection is down it waits; what a dead channel left unconfirmed is
   * published again, in order.
   */
  sendBatch(messages: DriverMessage[], signal: AbortSignal): Promise<void> {
    return this.session.publish(messages, signal);
  }
}

/**
 * What a topic declares: its exchange with `declare`; for a dead-letter
 * target, also a queue of the same name bound to receive every message, so
 * that `openSubscription("rabbit://NAME")` reads the dead letters. Throws
 * FailedPrecondition for a dead-letter target that could drop or refuse
 * what it gets, or that may (an exchange named without `declare` or
 * `toQueue`: no AMQP 0.9.1 call lists its bindings), and InvalidArgument for
 * options that contradict `toQueue`.
 */
function topicDeclaration(name: string, options: RabbitTopicOptions): TopologyDeclaration | undefined {
  const { declare, deadLetterTarget, toQueue, routingKey = "", routingKeyFrom } = options;
  if (toQueue && (declare || options.routingKey !== undefined || routingKeyFrom !== undefined)) {
    throw invalidArgument(
      `rabbit: queue "${name}": toQueue publishes through the default exchange; routingKey, routingKeyFrom and declare do not apply`,
    );
  }
  const where = `rabbit: dead-letter topic "${name}"`;
  if (deadLetterTarget && options.mandatory === false) {
    throw new PubSubError(
      ErrorCode.FailedPrecondition,
      `${where}: mandatory=false lets the broker drop a dead letter that no queue receives; remove it`,
    );
  }
  if (deadLetterTarget && !declare && !toQueue) {
    // AMQP 0.9.1 cannot list an exchange's bindings, so an existing exchange cannot be checked for a queue; a
    // dead letter no queue receives would fail (NO_ROUTE) and come back again and again. Only these two hold.
    throw new PubSubError(
      ErrorCode.FailedPrecondition,
      `${where}: RabbitMQ cannot tell at open whether a queue receives what this exchange gets, and a dead letter ` +
        `that no queue receives would fail and come back for ever; use rabbit://${name}?declare=true (declares the ` +
        `exchange and a durable queue "${name}" bound to receive every dead letter) or name the queue itself: ` +
        "rabbit://QUEUE?toQueue=true",
    );
  }
  if (!declare) return undefined;
  const exchange = { name, ...(declare === true ? {} : declare) };
  if (!deadLetterTarget) return { exchange };
  const type = exchange.type ?? "topic";
  let bindingKey: string;
  if (type === "topic") bindingKey = "#";
  else if (type === "fanout") bindingKey = "";
  else if (type === "direct" && routingKeyFrom === undefined) bindingKey = routingKey;
  else {
    throw new PubSubError(
      ErrorCode.FailedPrecondition,
      `${where}: declare=true cannot bind a queue that receives every dead letter of a ${type} exchange` +
        `${type === "direct" ? " whose routing key comes from metadata (routingKeyFrom)" : ""}; ` +
        "use exchangeType=topic or fanout, or declare and bind the queue yourself and drop declare=true",
    );
  }
  const queue = { name, bindTo: name, bindingKey, exchangeType: type, durable: exchange.durable ?? true };
  return { exchange, queue };
}

/**
 * Opens a Topic that publishes to `exchange`. `target` is a connection of
 * yours (from `connectRabbit`; the topic never closes it) or settings for the
 * shared connection (closed when its last user shuts down). The topic starts
 * connecting at once; sends wait until it is connected. `topic.ready()`
 * resolves once it is.
 */
export function openRabbitTopic(target: RabbitTarget, exchange: string, options: RabbitTopicOptions = {}): Topic {
  return new Topic(rabbitTopicDriver(target, exchange, options), options);
}

/** The driver behind {@link openRabbitTopic}, for code that wraps drivers (such as test harnesses). */
export function rabbitTopicDriver(
  target: RabbitTarget,
  exchange: string,
  options: RabbitTopicOptions = {},
): RabbitTopicDriver {
  if (typeof exchange !== "string") throw invalidArgument("rabbit: the exchange name must be a string");
  return buildOn(target, "publish", (connection, owned) => new RabbitTopicDriver(connection, exchange, options, owned));
}

/**
 * Delayed redelivery for a rabbit:// subscription. Holding a failed message
 * unacked for its delay would fill the consumer's prefetch window and starve
 * the good messages behind it, so a failed message is republished instead:
 * a copy goes straight back to its queue (delay 0) or into a delay queue that
 * dead-letters it back once the delay has passed (see delay-queues.ts), on a
 * confirm channel of the publishing connection (a ConfirmPublisher, which
 * republishes what a dead channel left unconfirmed); only once the broker
 * has confirmed the copy is the original acked on the consuming channel. A
 * failure leaves the original unacked: at worst a message arrives twice,
 * never not at all.
 */
import { type DriverMessage, ErrorCode, type Redelivery, raceSignal } from "@portable-pubsub/core/driver";
import type { ConfirmChannel, ConsumeMessage, Options } from "amqplib";
import type { RabbitConnection } from "./amqp/connection.js";
import {
  ATTEMPTS_HEADER,
  contentOf,
  FAILURES_HEADER,
  headerFrameBytes,
  isInternalHeader,
  propertiesFrameBytes,
  publishPropertiesOf,
} from "./codec.js";
import { ConfirmPublisher, type Outgoing } from "./confirm-publisher.js";
import type { QueueConsumer } from "./consumer.js";
import { bucketOf, DelayQueues } from "./delay-queues.js";
import { RabbitError, ReplyCode, replyCodeOf } from "./errors.js";

/**
 * Headers a copy must not carry: the internal ones (a copy gets a fresh
 * attempts header that counts what a quorum queue's delivery count did; the
 * broker's dead-lettering history would only grow), and sender-selected
 * distribution (CC and BCC would route the copy to other queues too).
 */
function copiedHeader(key: string): boolean {
  return !isInternalHeader(key) && key !== "CC" && key !== "BCC";
}

/** Properties a copy keeps as they were. */
const KEPT_PROPERTIES = [
  "contentType",
  "contentEncoding",
  "deliveryMode",
  "priority",
  "correlationId",
  "replyTo",
  "messageId",
  "timestamp",
  "type",
  "appId",
] as const;

/**
 * The copy of a failed delivery for `routingKey` on the default exchange:
 * the same body and properties (persistence included, and the message id as
 * `message_id`), minus the headers above, plus the attempts and failures
 * headers. `user_id` is dropped, since the broker
 * refuses a publish whose user_id is not the publishing connection's user;
 * so is a delayed copy's per-message TTL (`expiration`), which could hand it
 * back from the delay queue before its delay.
 */
export function copyOf(message: DriverMessage, routingKey: string, delayed: boolean): Outgoing {
  const attempts = message.deliveryAttempt ?? 1;
  const failures = (message.failedAttempts ?? 0) + 1;
  const native = message.native as ConsumeMessage | undefined;
  if (!native?.properties) {
    // Not a delivery of this driver: what the portable message says is all there is.
    const { headers: sent, contentType } = publishPropertiesOf(message.metadata);
    const headers = { ...sent, [ATTEMPTS_HEADER]: String(attempts), [FAILURES_HEADER]: String(failures) };
    const messageId = message.id;
    return {
      content: contentOf(message.body),
      routingKey,
      properties: { headers, contentType, messageId, persistent: true, mandatory: true },
      headerBytes: headerFrameBytes(headers, messageId === undefined ? 0 : Buffer.byteLength(messageId)),
    };
  }
  const original = native.properties;
  const headers: Record<string, unknown> = {};
  const originalHeaders = original.headers ?? {};
  for (const key of Object.keys(originalHeaders)) {
    if (copiedHeader(key)) headers[key] = originalHeaders[key];
  }
  headers[ATTEMPTS_HEADER] = attempts;
  headers[FAILURES_HEADER] = failures;
  const properties: Options.Publish = { headers, mandatory: true };
  for (const key of KEPT_PROPERTIES) {
    const value = original[key];
    if (value !== undefined && value !== null) (properties as Record<string, unknown>)[key] = value;
  }
  // The message's id, also for a foreign message that had no message_id: its copies keep the one it got.
  if (message.id !== undefined) properties.messageId = message.id;
  if (!delayed && original.expiration !== undefined && original.expiration !== null) {
    properties.expiration = original.expiration;
  }
  return { content: native.content, routingKey, properties, headerBytes: propertiesFrameBytes(properties) };
}

/** What a Redeliverer works with. */
export interface RedelivererSettings {
  /** The source queue. */
  readonly queue: string;
  /** The queue's consumer: holds the originals and acks them. */
  readonly consumer: QueueConsumer;
  /** Default 30 minutes; see RabbitSubscriptionOptions.delayQueueExpiresMs. */
  readonly delayQueueExpiresMs: number;
}

/** See the module comment. */
export class Redeliverer {
  readonly #queue: string;
  readonly #consumer: QueueConsumer;
  readonly #delayQueues: DelayQueues;
  readonly #publisher: ConfirmPublisher;
  /** Originals whose copies were confirmed and that were acked: a retry of the same call skips them. */
  readonly #done = new WeakSet<object>();

  /** Publishes on `connection` (the publishing one); closing it is the caller's business. */
  constructor(connection: RabbitConnection, settings: RedelivererSettings) {
    this.#queue = settings.queue;
    this.#consumer = settings.consumer;
    this.#delayQueues = new DelayQueues(settings.queue, settings.delayQueueExpiresMs);
    this.#publisher = new ConfirmPublisher(connection, {
      exchange: "",
      routingKey: () => settings.queue,
      persistent: true,
      mandatory: true,
      owner: "subscription",
      // Copies held back while the channel was down go out right after this: their delay queues must not expire.
      setup: (channel: ConfirmChannel) => this.#delayQueues.redeclare(channel),
    });
  }

  /**
   * Returns only after the broker confirmed a copy of every message in
   * `redeliveries` (back in the queue, or in the delay queue of its delay)
   * and the originals were acked. Messages whose delivery's channel has died
   * are skipped: the broker has put them back already. Rejects on the first
   * failure (a copy refused or returned, a delay queue that cannot be
   * declared), or with Canceled when `signal` fires; the originals of copies
   * not confirmed stay unacked, those confirmed are acked and skipped if the
   * same call is retried.
   */
  async redeliver(redeliveries: Redelivery[], signal: AbortSignal): Promise<void> {
    const todo = redeliveries.filter((r) => !this.#done.has(r.ackId as object) && this.#consumer.holds(r.ackId));
    if (todo.length === 0) return;
    const buckets = todo.filter((r) => r.delayMs > 0).map((r) => bucketOf(r.delayMs));
    if (buckets.length > 0) await raceSignal(this.#declare(buckets, signal), signal, "nack");
    const copies = todo.map((r) => {
      const delayed = r.delayMs > 0;
      const routingKey = delayed ? this.#delayQueues.nameOf(bucketOf(r.delayMs)) : this.#queue;
      return copyOf(r.message, routingKey, delayed);
    });
    const outcomes = await raceSignal(Promise.allSettled(this.#publisher.sendEach(copies, signal)), signal, "nack");
    const confirmed: unknown[] = [];
    let failure: unknown;
    outcomes.forEach((outcome, i) => {
      const { ackId, delayMs } = todo[i] as Redelivery;
      if (outcome.status === "fulfilled") {
        this.#done.add(ackId as object);
        confirmed.push(ackId);
      } else {
        failure ??= delayMs > 0 ? this.#delayQueueGone(outcome.reason, bucketOf(delayMs)) : outcome.reason;
      }
    });
    this.#consumer.ack(confirmed);
    if (failure !== undefined) throw failure;
  }

  /**
   * A copy for a delay queue came back unroutable: the queue expired or was
   * deleted after this process last declared it. It is declared again on
   * the retry, so the error is retryable.
   */
  #delayQueueGone(err: unknown, bucket: number): unknown {
    if (replyCodeOf(err) !== ReplyCode.NoRoute) return err;
    this.#delayQueues.forget(bucket);
    return new RabbitError(`delay queue "${this.#delayQueues.nameOf(bucket)}" is gone; it is declared again`, {
      cause: err,
      replyCode: ReplyCode.NoRoute,
      retryable: true,
    });
  }

  /** Declares the delay queues of `buckets` that need it, on the publisher's channel. */
  async #declare(buckets: number[], signal: AbortSignal): Promise<void> {
    await this.#publisher.whenOpen(signal);
    const channel = this.#publisher.channel;
    try {
      if (!channel) throw new Error("the channel closed");
      await this.#delayQueues.ensure(channel, buckets);
    } catch (err) {
      if (err instanceof RabbitError) throw err;
      // The channel or its connection went while declaring: the next attempt gets a new one.
      throw new RabbitError("the channel closed while declaring a delay queue", {
        cause: err,
        portable: ErrorCode.Unknown,
        retryable: true,
      });
    }
  }

  /** Waits for outstanding confirms (within `signal`), then closes the channel. */
  close(signal: AbortSignal): Promise<void> {
    return this.#publisher.close(signal);
  }
}

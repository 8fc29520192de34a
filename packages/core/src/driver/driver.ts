/**
 * The driver contract. A driver translates between these small interfaces and
 * one broker; the portable layer (Topic, Subscription) owns batching, retries,
 * validation, cancellation, tracing and shutdown, so a driver must not repeat
 * any of that. Modelled on gocloud.dev/pubsub/driver.
 */
import type { ErrorCode } from "../errors.js";
import type { HealthSource } from "./health.js";
import type { NoticeSource } from "./notices.js";

/**
 * A message as drivers see it. Bodies are bytes; metadata is already
 * validated. A received message must be an extensible object (not frozen or
 * sealed): the portable layer keeps symbol-keyed slots on it (its place in
 * the lease keeper, an idempotency claim) rather than Map entries per message.
 */
export interface DriverMessage {
  /**
   * The message's id: the application's own or one the portable layer
   * generated, always set on a message handed to `sendBatch`. A topic driver
   * must carry it in the broker's native id field where there is one (the
   * AMQP `message_id`, JetStream's `Nats-Msg-Id`), else in a field or
   * attribute of its own that its README names, or, failing both, in
   * metadata under the kit's `MESSAGE_ID_KEY` (see `messageIdToMetadata`).
   * It must stay the same through every resend, republish and copy the
   * driver makes of the message.
   *
   * A subscription driver must set it on every received message: the id
   * that was sent; for a message that a program other than this library
   * published (a foreign message), the broker's own id of the message, which
   * must stay the same across its redeliveries where the broker has one. Its
   * README says what a foreign message gets. Left undefined by a driver
   * written before ids, `Message.id` is `loggableId`.
   */
  id?: string;
  /** The payload. Drivers must deliver these bytes unchanged. */
  body: Uint8Array;
  /** String keys and values, valid UTF-16 without lone surrogates (so valid UTF-8). */
  metadata: Record<string, string>;
  /**
   * Set by subscription drivers on received messages: what `sendAcks` and
   * `sendNacks` get back. Opaque to the portable layer.
   */
  ackId?: unknown;
  /**
   * Set by subscription drivers: a short id safe to log (broker message id,
   * stream entry id); `id` is the message's id. Where the driver leaves `failedAttempts` undefined,
   * the portable layer counts failures by this id, so it must stay the same
   * across redeliveries of one message and differ between messages.
   */
  loggableId?: string;
  /** Set by subscription drivers: the broker client's own message object, for `Message.as`. */
  native?: unknown;
  /**
   * Set by subscription drivers: how many times this message was delivered,
   * 1 on first delivery, counting every earlier delivery, whatever ended it:
   * a failure, a hand-back (`sendNacks` at shutdown), a consumer that died.
   * Every driver should set it, from what its broker counts where it counts
   * (a pending entry's delivery count, a quorum queue's `x-delivery-count`,
   * JetStream's delivery count), or else counted by the driver itself; its
   * README says how far the count survives (this process, consumer
   * restarts, broker restarts). The portable layer dead-letters a message
   * that arrives past `redelivery.maxDeliveries` (a crash loop) by it.
   */
  deliveryAttempt?: number;
  /**
   * Set by subscription drivers that can: how many earlier deliveries of
   * this message failed, as the portable layer reported them: a `redeliver`
   * call, and a lease left to lapse (an ack deadline that passed without an
   * extension). Messages the portable layer hands back unprocessed through
   * `sendNacks` (fetched but never handed out, at shutdown) did not fail and
   * must not be counted. A driver should set it where the count can travel
   * with the message (a header of a republished copy) or be kept by the
   * broker across processes. Left undefined, the portable layer counts
   * failures itself, in the Subscription only (so in this process, while it
   * is open), by `loggableId`. The portable layer's redelivery backoff and
   * `redelivery.maxAttempts` read it.
   */
  failedAttempts?: number;
}

/**
 * How a driver's own errors (those of its broker client, and those it makes
 * itself for broker conditions) map to portable ones. The portable layer asks
 * it about every error a driver method throws that is not already a
 * PubSubError, and builds from the answers the one PubSubError the caller
 * sees: operation, resource, detail, hint, code, and the original as `cause`.
 * A driver therefore throws its client's errors as they are; it must not wrap
 * them in PubSubErrors itself. A topic driver and a subscription driver of
 * one broker usually share one classifier.
 */
export interface ErrorClassifier {
  /** Maps `err` to a portable code. Must not throw. */
  errorCode(err: unknown): ErrorCode;
  /**
   * Reports whether the same call, repeated unchanged, may succeed (a dropped
   * connection, a throttle, a broker restarting). The portable layer retries
   * such errors with capped exponential backoff and full jitter.
   */
  isRetryable(err: unknown): boolean;
  /**
   * Says, in a few plain words, what the user can do about `err` ("create the
   * queue, or open it with declare=true"), or returns undefined. Optional.
   * It must not contain credentials.
   */
  hint?(err: unknown): string | undefined;
}

/**
 * A driver's facts for tracing and metrics. Values must not contain
 * credentials.
 */
export interface DriverTelemetry {
  /**
   * `messaging.system`: "rabbitmq", "gcp_pubsub", "redis" and the other
   * values of the OpenTelemetry conventions where one exists; otherwise a
   * short lower-case name of the broker (mem:// uses "mem").
   */
  readonly system: string;
  /** `messaging.destination.name`: the topic, exchange, queue or stream, as the broker names it. */
  readonly destination: string;
  /** `messaging.destination.subscription.name`, for a subscription that has a name of its own (Pub/Sub). */
  readonly subscription?: string;
  /** `messaging.consumer.group.name`, for a consumer group (a Redis group, a RabbitMQ queue's consumers). */
  readonly consumerGroup?: string;
  /** `server.address` and `server.port` of the broker, where there is one. */
  readonly serverAddress?: string;
  readonly serverPort?: number;
  /**
   * Broker-specific attributes of one message, as the conventions list them
   * (routing key, delivery tag, ordering key). Optional; called only while
   * a span is being recorded, so it costs nothing otherwise.
   */
  messageAttributes?(message: DriverMessage): Record<string, string | number | boolean> | undefined;
}

/** See {@link DriverBase.server}. */
export interface DriverServer {
  /** The kind of broker, as users call it: "RabbitMQ", "Redis", "NATS", "Pub/Sub". */
  readonly broker: string;
  /** Where the driver connects: a URL or `host:port`, never with credentials. */
  readonly address: string;
  /**
   * How long `ready` may take, in ms: the driver's `connectTimeoutMs` option,
   * by default `DEFAULT_CONNECT_TIMEOUT_MS` (10 s) on every driver.
   */
  readonly connectTimeoutMs: number;
}

/** What every driver has in common. */
export interface DriverBase {
  /**
   * Names the driver and its resource for error messages and spans, such as
   * `rabbit exchange "orders"`. It must not contain credentials.
   */
  readonly resource: string;
  /**
   * How this driver's errors map to portable codes, retries and hints.
   * Optional: without it, every error the driver throws that is not a
   * PubSubError is Unknown and is not retried.
   */
  readonly errors?: ErrorClassifier;
  /**
   * Resolves once the driver can do its work: connected, and its resource
   * found (or declared, if asked). Optional. The URL mux awaits it before
   * `openTopic` / `openSubscription` resolve, and closes the driver when it
   * rejects, so that a wrong URL or a missing resource fails at open rather
   * than at the first send. It should reject with the error that makes the
   * resource unusable (refused connection, refused TLS certificate,
   * NotFound, PermissionDenied) as soon as it has one: a first connection
   * that fails must not be retried here until the timeout. It must return
   * promptly when `signal` fires. A driver with `server` need not bound its
   * wait: the portable layer fails `ready` after `server.connectTimeoutMs`;
   * a driver without one must bound its own. A driver asked to open without
   * waiting for its broker (such as rabbit's `failFast: false`) resolves at
   * once.
   */
  ready?(signal: AbortSignal): Promise<void>;
  /**
   * The broker and server this driver connects to, and how long `ready` may
   * take. Optional; a driver that has `ready` and talks to a server should
   * give it. The portable layer fails `ready` with DeadlineExceeded, naming
   * the broker, the server and the last connection error, once
   * `connectTimeoutMs` has passed, and names them too when `ready` rejects
   * with a socket or TLS error of the client's.
   */
  readonly server?: DriverServer;
  /**
   * What spans and metrics say about this driver, per the OpenTelemetry
   * messaging conventions. Optional: without it, the portable layer reports
   * `messaging.system` "portable_pubsub" and the resource as destination.
   * The portable layer builds every span and metric; a driver must not.
   */
  readonly telemetry?: DriverTelemetry;
  /**
   * Returns the broker client's object behind this driver (an amqplib channel,
   * a Pub/Sub Topic, an ioredis client), for `Topic.as` / `Subscription.as`.
   */
  native?(): unknown;
  /**
   * Connection health, for drivers whose connection can drop and recover. A
   * driver without one is reported `ready` until shut down.
   */
  readonly health?: HealthSource;
  /**
   * Events for the application's logger that are not health changes (acks
   * dropped because their channel died). Optional. A driver must not log by
   * itself: the portable layer forwards these to the `logger` option.
   */
  readonly notices?: NoticeSource;
  /**
   * Releases what the driver holds. The portable layer calls it exactly once,
   * after it has flushed pending sends or acks. Returns only after the driver's
   * resources are released or `signal` fired.
   */
  close(signal: AbortSignal): Promise<void>;
}

/** A topic driver sends batches of messages to one topic, exchange or stream. */
export interface TopicDriver extends DriverBase {
  /**
   * Sends all of `messages` or fails. Returns only after the broker has
   * accepted every message (publisher confirm, publish RPC reply, XADD reply).
   * On error, some messages may have been sent. It must not retry by itself
   * errors it reports as retryable: the portable layer does. It should return
   * promptly when `signal` fires, where the client allows it. The portable
   * layer owns backpressure (`maxPendingSends`, batches in flight): a driver
   * must not queue or hold back batches behind a limit of its own, which
   * could let a later batch overtake an earlier one. A retry passes the same
   * array of the same message objects, and every send makes a message object
   * of its own, so a driver whose send can fail part-way should remember what
   * a failed attempt already stored and send only the rest again: the kit's
   * `StoredMessages` does.
   */
  sendBatch(messages: DriverMessage[], signal: AbortSignal): Promise<void>;
  /**
   * Throws a PubSubError (usually InvalidArgument) if the broker cannot take
   * `message` at all, such as one over a size limit. Optional. `Topic.send`
   * calls it after its own validation and before batching, so that such a
   * message fails alone instead of failing the batch it would have joined.
   */
  checkMessage?(message: DriverMessage): void;
  /**
   * Batching limits that the broker imposes. The portable layer never hands
   * `sendBatch` more than these.
   */
  readonly batchLimits?: BatchLimits;
}

/** A subscription driver receives, acks and nacks for one subscription, queue or group. */
export interface SubscriptionDriver extends DriverBase {
  /**
   * The URL that opens this subscription through the URL mux, such as
   * `rabbit://orders-billing` (without credentials: the server comes from
   * the environment or options). Optional. It is what `deadletter.source`
   * says of a subscription made with a driver's constructor, so that
   * `pubsub redrive` can send a dead letter home; without it, that is
   * `resource`. A subscription opened through the mux uses the URL it was
   * opened with instead.
   */
  readonly url?: string;
  /**
   * Returns up to `maxMessages` messages (at least one, unless none arrived).
   * When none is available it should wait for one, but at most about a second,
   * then return an empty array, so that the portable layer can notice shutdown
   * and resize batches. It must return promptly when `signal` fires.
   */
  receiveBatch(maxMessages: number, signal: AbortSignal): Promise<DriverMessage[]>;
  /**
   * Acknowledges the messages with these ackIds. An ackId that is no longer
   * valid (its channel or lease is gone) must be ignored, not reported.
   */
  sendAcks(ackIds: unknown[], signal: AbortSignal): Promise<void>;
  /**
   * True if `sendNacks` is supported. When false, `Message.nack` throws
   * Unimplemented, and a failed message is not handed back: see
   * `releaseFailed`.
   */
  readonly canNack: boolean;
  /**
   * Makes the messages with these ackIds available for delivery again at
   * once. Only called when `canNack` is true. The portable layer calls it
   * for messages it hands back unprocessed (fetched but never handed out at
   * shutdown) and, for drivers without `redeliver`, for a failed message
   * once its redelivery delay has passed. So a driver without `redeliver`
   * cannot tell a failure from a hand-back here, and should leave
   * `failedAttempts` undefined.
   */
  sendNacks(ackIds: unknown[], signal: AbortSignal): Promise<void>;
  /**
   * Optional. Makes each failed message available for delivery again once
   * its `delayMs` has passed, not earlier (later by the broker's granularity
   * is fine, such as whole seconds), and counts the failed delivery in the
   * next one's `deliveryAttempt` (and `failedAttempts`, where the driver
   * sets it). It must return only after the broker holds
   * each message for its redelivery: where the driver republishes a copy,
   * only after the broker confirmed the copy, and only then may it remove
   * the original. A message must never be lost: on error, the originals
   * must still be pending. Only called when `canNack` is true.
   *
   * Without it, the portable layer holds a failed message for its delay
   * (extending its lease, if the driver has `extendLeases`) and then calls
   * `sendNacks`. A driver must implement it where holding unacked messages
   * would stop the delivery of others (a prefetch window, as in RabbitMQ),
   * and should where the broker delays natively (JetStream's nak delay,
   * Pub/Sub's ack deadline).
   */
  redeliver?(redeliveries: Redelivery[], signal: AbortSignal): Promise<void>;
  /**
   * Optional, for drivers that cannot nack (`canNack` false): tells the
   * driver that the messages with these ackIds failed (a handler threw, or a
   * dead-letter send failed) and that the portable layer is done with them.
   * It calls it once per failed delivery, once the delay its redelivery
   * policy gives has passed (when it would call `sendNacks` on a driver that
   * can nack; meanwhile it keeps the message's lease, where the driver has
   * `extendLeases`), and at shutdown at once for those still waiting out
   * their delay. Afterwards it never acks those ackIds nor extends their
   * leases. The driver must release what it holds for each message (a slot
   * of the broker's in-flight window, such as MQTT's receive maximum, a
   * credit, a claim), so that failed messages never stop the delivery of
   * others; and it must not drop a message its broker can keep: the message
   * comes back when the broker redelivers unacked ones (an ack deadline, a
   * session resumed after a reconnect), as the driver's README must say. An
   * ackId that is no longer valid must be ignored, not reported.
   *
   * Without it, the portable layer stops extending a failed message's lease
   * and does nothing more: the message comes back after its ack deadline, if
   * the broker has one, or when the broker takes it back (a closed
   * connection); until then it holds whatever the driver holds for an unacked
   * message. A driver whose broker limits unacked messages and has no ack
   * deadline must implement it.
   */
  releaseFailed?(ackIds: unknown[], signal: AbortSignal): Promise<void>;
  /**
   * Optional, with `extendLeases`: how long, in ms, a delivered message
   * stays leased to this consumer (not delivered to another) after its
   * delivery or its last extension. The portable layer reads it each time it
   * schedules an extension, so it may change once the driver is ready.
   */
  readonly leaseMs?: number;
  /**
   * Optional. Extends the lease of each message by `leaseMs` from now, so
   * that the broker does not deliver it again while a handler or the receive
   * buffer holds it (Pub/Sub's modifyAckDeadline, a Redis entry's idle time,
   * JetStream's in-progress ack). The portable layer calls it every half
   * lease, for every message it holds, until the message is settled or has
   * been held for `maxExtensionMs`; the first call for a message may come
   * half a lease after `receiveBatch` returned it. So a driver that buffers
   * messages itself must keep their leases while they wait, and return them
   * with more than half a lease left: the kit's `HeldLeases` does both
   * (`hold`, then `handOver`). An ackId that is no longer valid must be
   * ignored, not reported.
   */
  extendLeases?(ackIds: unknown[], signal: AbortSignal): Promise<void>;
  /** Limits on how many acks one `sendAcks` call may carry. */
  readonly ackBatchLimits?: BatchLimits;
}

/** One failed message for `SubscriptionDriver.redeliver`. */
export interface Redelivery {
  /** The message's ackId, as `receiveBatch` returned it. */
  readonly ackId: unknown;
  /** Deliver it again no sooner than this many ms from now; 0: at once. */
  readonly delayMs: number;
  /**
   * The message as `receiveBatch` returned it (body, metadata with any
   * trace context, deliveryAttempt, native): what a driver that republishes
   * sends again.
   */
  readonly message: DriverMessage;
}

/** Limits that a driver imposes on one batch. */
export interface BatchLimits {
  /** Most messages (or ackIds) in one call. */
  maxItems?: number;
  /** Most body bytes in one call. */
  maxBytes?: number;
  /** Most calls in flight at once. */
  maxConcurrency?: number;
}

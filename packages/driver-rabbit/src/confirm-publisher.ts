/**
 * Confirmed publishing that survives channels and connections. Every send
 * waits here until the broker confirms it. The buffer of what is not yet
 * confirmed belongs to the publisher, not to a channel: when a channel or
 * its connection dies, what it had in flight goes back to the front of the
 * queue, in order, and is published again on the next channel. So a send
 * settles only on a real confirm (or a real refusal: a nack, an unroutable
 * return, a resource error), never on "channel closed". A confirm overdue
 * on a live connection (see ./confirm-deadline.ts) counts as a dead channel.
 */
import { canceledError, type DriverMessage, ErrorCode, WakeUp } from "@portable-pubsub/core/driver";
import type { ConfirmChannel, Message, Options } from "amqplib";
import type { RabbitConnection } from "./amqp/connection.js";
import { type ChannelLease, ManagedChannel } from "./amqp/managed-channel.js";
import { contentOf, headerFrameBytes, publishPropertiesOf, tooLargeForFrame } from "./codec.js";
import { ConfirmDeadline, DEFAULT_CONFIRM_TIMEOUT_MS } from "./confirm-deadline.js";
import { ConfirmWindow } from "./confirm-window.js";
import type { ChannelSession } from "./driver-base.js";
import { isResourceError, RabbitError, ReplyCode } from "./errors.js";

/** How a ConfirmPublisher publishes. */
export interface PublisherSettings {
  /** The exchange to publish to; "" is the default exchange. */
  exchange: string;
  /** The routing key of one message given to `publish`. */
  routingKey(message: DriverMessage): string;
  /** Delivery mode 2 for messages given to `publish`: the broker writes them to disk in durable queues. */
  persistent: boolean;
  /** Ask the broker to return a message given to `publish` that no queue receives, and fail its send. */
  mandatory: boolean;
  /** Runs on every new channel before it publishes (declarations). */
  setup?(channel: ConfirmChannel): Promise<void>;
  /** What the owner is called in the error for a publish after `close` ("topic"). */
  owner: string;
  /** How long a message may wait for its confirm before its channel is given up, in ms. Default 20000. */
  confirmTimeoutMs?: number;
}

/** One message for {@link ConfirmPublisher.send}, as it goes on the wire. */
export interface Outgoing {
  readonly content: Buffer;
  readonly routingKey: string;
  /**
   * All its properties, `mandatory` included. A return is matched to its
   * message by message id, routing key and content, so two messages in
   * flight that agree on all three are told apart only by publish order.
   */
  readonly properties: Options.Publish;
  /** Its content header frame's size, or an upper bound of it (checked against frame_max before it is written). */
  readonly headerBytes: number;
}

const WAITING = 0;
const IN_FLIGHT = 1;
const DONE = 2;

interface Pending extends Outgoing {
  readonly batch: BatchWait;
  state: 0 | 1 | 2;
  returned: RabbitError | undefined;
  /** When it was last written to a channel (Date.now()). */
  sentAt: number;
}

/** One `publish` call: settles when all its messages have, or on the first failure. */
interface BatchWait {
  remaining: number;
  settled: boolean;
  resolve(): void;
  reject(err: unknown): void;
}

/** See the module comment. */
export class ConfirmPublisher implements ChannelSession<ConfirmChannel> {
  readonly #settings: PublisherSettings;
  readonly #channel: ManagedChannel<ConfirmChannel>;
  readonly #deadline: ConfirmDeadline;
  readonly #idPrefix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}-`;
  #nextId = 0;
  /** Messages not yet published on the current channel, oldest first. */
  #waiting: Pending[] = [];
  #waitHead = 0;
  /** Published on the current channel and not yet confirmed, by delivery tag. */
  readonly #inflight = new ConfirmWindow<Pending>();
  /** The socket buffer of the current channel is full: publishing waits for its drain. */
  #paused = false;
  #outstanding = 0;
  /** Woken when the last outstanding message settles, for `close`. */
  readonly #drained = new WakeUp();
  #closed = false;

  constructor(connection: RabbitConnection, settings: PublisherSettings) {
    this.#settings = settings;
    this.#channel = new ManagedChannel<ConfirmChannel>(connection, {
      role: "publish",
      create: (model) => model.createConfirmChannel(),
      setup: async (lease) => {
        const { channel } = lease;
        channel.on("ack", (f: ConfirmFrame) => this.#confirm(lease, f, false));
        channel.on("nack", (f: ConfirmFrame) => this.#confirm(lease, f, true));
        channel.on("return", (message: Message) => this.#returned(lease, message));
        channel.on("drain", () => {
          if (lease !== this.#channel.lease) return;
          this.#paused = false;
          this.#pump();
        });
        await settings.setup?.(channel);
      },
      opened: () => {
        this.#paused = false;
        this.#pump();
      },
      closed: (_lease, error) => this.#channelLost(error),
      failed: (error) => this.#failWaiting(error),
    });
    // An overdue confirm gives the channel up: `closed` above puts what it left unconfirmed back, in order.
    this.#deadline = new ConfirmDeadline(
      settings.confirmTimeoutMs ?? DEFAULT_CONFIRM_TIMEOUT_MS,
      connection.health,
      () => this.#inflight.oldest?.sentAt,
      () => {
        const lease = this.#channel.lease;
        if (lease) this.#channel.abandon(lease);
      },
    );
    this.#channel.ensureOpen();
  }

  /** The confirm channel in use now, if one is open. */
  get channel(): ConfirmChannel | undefined {
    return this.#channel.lease?.channel;
  }

  /** Messages queued or awaiting their confirm. */
  get outstanding(): number {
    return this.#outstanding;
  }

  /** Resolves once a channel is open; rejects with the error that stopped it opening (fail-fast connect, declare). */
  async whenOpen(signal: AbortSignal): Promise<void> {
    await this.#channel.whenOpen(signal);
  }

  /**
   * Publishes `messages` in order, after every message of earlier calls.
   * Resolves once the broker confirmed every one; rejects on the first that
   * fails (nack, return, resource error). While the connection is down, it
   * waits: there is no limit here, since core bounds what it hands over
   * (batch size times batches in flight), and a limit of our own could let a
   * later batch overtake an earlier one. `signal` is only checked on entry:
   * core aborts it at a shutdown out of time, and then `close` fails what is
   * outstanding.
   */
  publish(messages: DriverMessage[], signal?: AbortSignal): Promise<void> {
    const { persistent, mandatory, routingKey } = this.#settings;
    return this.send(
      messages.map((message) => {
        // The message's id, kept through every republish of this Outgoing (a dead channel's unconfirmed).
        const messageId = message.id ?? this.#idPrefix + (this.#nextId++).toString(36);
        const { headers, contentType } = publishPropertiesOf(message.metadata);
        return {
          content: contentOf(message.body),
          routingKey: routingKey(message),
          properties: { headers, contentType, messageId, persistent, mandatory },
          headerBytes: headerFrameBytes(message.metadata, Buffer.byteLength(messageId)),
        };
      }),
      signal,
    );
  }

  /**
   * Publishes `items` as they are (their routing keys and properties) to the
   * publisher's exchange, like `publish`: in order, after every message of
   * earlier calls, resolving once the broker confirmed every one and
   * rejecting on the first that fails.
   */
  send(items: Outgoing[], signal?: AbortSignal): Promise<void> {
    return this.#enqueue([items], signal)[0] as Promise<void>;
  }

  /** Like `send`, with one promise per item: each settles on its own confirm or failure. */
  sendEach(items: Outgoing[], signal?: AbortSignal): Promise<void>[] {
    return this.#enqueue(
      items.map((item) => [item]),
      signal,
    );
  }

  /** Queues `batches` in order, each settling as one, and publishes them once a channel is open. */
  #enqueue(batches: Outgoing[][], signal: AbortSignal | undefined): Promise<void>[] {
    if (this.#closed) {
      const closed = new RabbitError(`the ${this.#settings.owner} is closed`, {
        portable: ErrorCode.FailedPrecondition,
      });
      return batches.map(() => Promise.reject(closed));
    }
    if (signal?.aborted) return batches.map(() => Promise.reject(canceledError("send", signal)));
    const done = batches.map((items) => {
      if (items.length === 0) return Promise.resolve();
      let batch!: BatchWait;
      const settled = new Promise<void>((resolve, reject) => {
        batch = { remaining: items.length, settled: false, resolve, reject };
      });
      for (const { content, routingKey, properties, headerBytes } of items) {
        this.#waiting.push({
          content,
          routingKey,
          properties,
          headerBytes,
          batch,
          state: WAITING,
          returned: undefined,
          sentAt: 0,
        });
      }
      this.#outstanding += items.length;
      return settled;
    });
    if (this.#channel.lease) this.#pump();
    else this.#channel.ensureOpen();
    return done;
  }

  #pump(): void {
    const channel = this.#channel.lease?.channel;
    if (!channel || this.#paused) return;
    const { exchange } = this.#settings;
    const frameMax = frameMaxOf(channel);
    const now = Date.now();
    while (this.#waitHead < this.#waiting.length) {
      const pending = this.#waiting[this.#waitHead] as Pending;
      if (pending.state === DONE) {
        this.#waitHead++;
        continue;
      }
      if (pending.headerBytes > frameMax) {
        // The broker would close the whole connection (501), and the message would come back to do it again.
        this.#waitHead++;
        this.#settle(pending, tooLargeForFrame(pending.headerBytes, frameMax));
        continue;
      }
      let flowing: boolean;
      try {
        flowing = channel.publish(exchange, pending.routingKey, pending.content, pending.properties);
      } catch (err) {
        // A closing channel refuses; its close event requeues. Anything else is this message's own fault.
        if ((err as Error)?.name === "IllegalOperationError") return;
        this.#waitHead++;
        this.#settle(pending, unpublishable(err));
        continue;
      }
      this.#waitHead++;
      pending.state = IN_FLIGHT;
      pending.sentAt = now;
      this.#inflight.push(pending);
      if (!flowing) {
        // The socket buffer is full: wait for drain rather than pile more into memory.
        this.#paused = true;
        break;
      }
    }
    if (this.#waitHead === this.#waiting.length) {
      this.#waiting = [];
      this.#waitHead = 0;
    }
    this.#deadline.watch();
  }

  #confirm(lease: ChannelLease<ConfirmChannel>, frame: ConfirmFrame, nack: boolean): void {
    if (lease !== this.#channel.lease) return;
    for (const pending of this.#inflight.take(frame.deliveryTag, frame.multiple)) {
      this.#settle(pending, nack ? refusedByBroker() : pending.returned);
    }
  }

  /** A mandatory message that no queue took comes back before its confirm; the confirm then fails it. */
  #returned(lease: ChannelLease<ConfirmChannel>, message: Message): void {
    if (lease !== this.#channel.lease) return;
    const { replyCode, replyText, routingKey } = message.fields as unknown as {
      replyCode: number;
      replyText: string;
      routingKey: string;
    };
    // Returns come in publish order, so the oldest match not yet returned is the one.
    const id = message.properties.messageId;
    const pending = this.#inflight.find(
      (p) =>
        p.returned === undefined &&
        p.properties.messageId === id &&
        p.routingKey === routingKey &&
        p.content.equals(message.content),
    );
    if (!pending) return;
    pending.returned = new RabbitError(
      `could not route the message with routing key "${routingKey}" to any queue (${replyCode} ${replyText})`,
      { replyCode: replyCode || ReplyCode.NoRoute, role: "publish", retryable: false },
    );
  }

  /** The channel died: resource errors fail what was in flight; anything else puts it back, in order. */
  #channelLost(error: unknown): void {
    const inflight = this.#inflight.reset();
    this.#paused = false;
    if (isResourceError(error)) {
      for (const pending of inflight) this.#settle(pending, error);
      return;
    }
    const requeue: Pending[] = [];
    for (const pending of inflight) {
      if (pending.state === DONE) continue;
      pending.state = WAITING;
      pending.returned = undefined;
      requeue.push(pending);
    }
    if (requeue.length > 0) {
      this.#waiting = requeue.concat(this.#waiting.slice(this.#waitHead));
      this.#waitHead = 0;
    }
  }

  #failWaiting(error: unknown): void {
    for (let i = this.#waitHead; i < this.#waiting.length; i++) {
      this.#settle(this.#waiting[i] as Pending, error);
    }
    this.#waiting = [];
    this.#waitHead = 0;
  }

  #settle(pending: Pending, error: unknown): void {
    if (pending.state === DONE) return;
    pending.state = DONE;
    if (--this.#outstanding === 0) this.#drained.wakeAll();
    const batch = pending.batch;
    batch.remaining--;
    if (!batch.settled && (error !== undefined || batch.remaining === 0)) {
      batch.settled = true;
      if (error === undefined) batch.resolve();
      else batch.reject(error);
    }
  }

  /**
   * Waits for outstanding confirms, then closes the channel. When `signal`
   * fires first, what is still unconfirmed fails with Canceled (or
   * DeadlineExceeded for a timeout signal).
   */
  async close(signal: AbortSignal): Promise<void> {
    this.#closed = true;
    while (this.#outstanding > 0 && !signal.aborted) await this.#drained.wait(1000, signal);
    if (this.#outstanding > 0) {
      const err = canceledError("shutdown", signal);
      for (const pending of this.#waiting.slice(this.#waitHead)) this.#settle(pending, err);
      for (const pending of this.#inflight.reset()) this.#settle(pending, err);
    }
    await this.#channel.close(signal);
    // Not before: while close waits for confirms, an overdue one still needs its republish.
    this.#deadline.stop();
  }
}

/** The negotiated frame_max of the channel's connection. */
function frameMaxOf(channel: ConfirmChannel): number {
  return (channel.connection as unknown as { frameMax: number }).frameMax;
}

interface ConfirmFrame {
  deliveryTag: number;
  multiple: boolean;
}

/**
 * A basic.nack: the broker would not take the message now. Retryable (core
 * retries with backoff, by default until the send's signal fires): every
 * cause RabbitMQ nacks for passes — a quorum queue that is electing a leader
 * after its node died (measured: about 2.5 s of nacks after a kill -9), a
 * queue full with overflow=reject-publish until its consumers catch up, a
 * queue process that crashed.
 */
function refusedByBroker(): RabbitError {
  return new RabbitError(
    "the broker refused the message (basic.nack): a quorum queue without a leader (its node went down), a queue full with overflow=reject-publish, or a queue that failed to store it",
    { portable: ErrorCode.ResourceExhausted, role: "publish", retryable: true },
  );
}

/** amqplib refused to encode the message: sending it again cannot help. */
function unpublishable(err: unknown): RabbitError {
  const detail = err instanceof Error ? err.message : String(err);
  return new RabbitError(`cannot publish the message: ${detail}`, {
    cause: err,
    portable: ErrorCode.InvalidArgument,
    retryable: false,
  });
}

/**
 * Confirmed publishing that survives channels and connections. Every send
 * waits here until the broker confirms it. The buffer of what is not yet
 * confirmed belongs to the publisher, not to a channel: when a channel or
 * its connection dies, what it had in flight goes back to the front of the
 * queue, in order, and is published again on the next channel. So a send
 * settles only on a real confirm (or a real refusal: a nack, an unroutable
 * return, a resource error), never on "channel closed".
 */
import { canceledError, type DriverMessage, ErrorCode, WakeUp } from "@portable-pubsub/core/driver";
import type { ConfirmChannel, Message, Options } from "amqplib";
import { coalesceWrites } from "./amqp/coalesce.js";
import type { RabbitConnection } from "./amqp/connection.js";
import { type ChannelLease, ManagedChannel } from "./amqp/managed-channel.js";
import { contentOf, headerFrameBytes, tooLargeForFrame } from "./codec.js";
import { ConfirmWindow } from "./confirm-window.js";
import type { ChannelSession } from "./driver-base.js";
import { isResourceError, RabbitError, ReplyCode } from "./errors.js";

/** How a ConfirmPublisher publishes. */
export interface PublisherSettings {
  /** The exchange to publish to; "" is the default exchange. */
  exchange: string;
  /** The routing key of one message. */
  routingKey(message: DriverMessage): string;
  /** Delivery mode 2: the broker writes the message to disk in durable queues. */
  persistent: boolean;
  /** Ask the broker to return a message that no queue receives, and fail its send. */
  mandatory: boolean;
  /** Runs on every new channel before it publishes (declarations). */
  setup?(channel: ConfirmChannel): Promise<void>;
}

const WAITING = 0;
const IN_FLIGHT = 1;
const DONE = 2;

interface Pending {
  readonly content: Buffer;
  readonly routingKey: string;
  readonly properties: Options.Publish;
  readonly batch: BatchWait;
  /** Its content header frame's size, checked against the channel's frame_max before it is written. */
  readonly headerBytes: number;
  state: 0 | 1 | 2;
  returned: RabbitError | undefined;
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
    if (this.#closed) {
      return Promise.reject(new RabbitError("the topic is closed", { portable: ErrorCode.FailedPrecondition }));
    }
    if (signal?.aborted) return Promise.reject(canceledError("send", signal));
    if (messages.length === 0) return Promise.resolve();
    let batch!: BatchWait;
    const done = new Promise<void>((resolve, reject) => {
      batch = { remaining: messages.length, settled: false, resolve, reject };
    });
    const { persistent, mandatory, routingKey } = this.#settings;
    for (const message of messages) {
      const messageId = this.#idPrefix + (this.#nextId++).toString(36);
      this.#waiting.push({
        content: contentOf(message.body),
        routingKey: routingKey(message),
        properties: { headers: message.metadata, messageId, persistent, mandatory },
        batch,
        headerBytes: headerFrameBytes(message.metadata, messageId.length),
        state: WAITING,
        returned: undefined,
      });
    }
    this.#outstanding += messages.length;
    if (this.#channel.lease) this.#pump();
    else this.#channel.ensureOpen();
    return done;
  }

  #pump(): void {
    const channel = this.#channel.lease?.channel;
    if (!channel || this.#paused) return;
    const { exchange } = this.#settings;
    const frameMax = frameMaxOf(channel);
    if (this.#waiting.length - this.#waitHead > 1) coalesceWrites(channel);
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
    const id = message.properties.messageId;
    const pending = this.#inflight.find((p) => p.properties.messageId === id);
    if (!pending) return;
    const { replyCode, replyText, routingKey } = message.fields as unknown as {
      replyCode: number;
      replyText: string;
      routingKey: string;
    };
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

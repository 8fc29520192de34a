/**
 * Confirmed publishing that survives channels and connections. Every send
 * waits here until the broker confirms it. The buffer of what is not yet
 * confirmed belongs to the publisher, not to a channel: when a channel or
 * its connection dies, what it had in flight goes back to the front of the
 * queue, in order, and is published again on the next channel. So a send
 * settles only on a real confirm (or a real refusal: a nack, an unroutable
 * return, a resource error), never on "channel closed".
 */
import { canceledError, type DriverMessage, ErrorCode, PubSubError } from "@portable-pubsub/core";
import type { ConfirmChannel, Message, Options } from "amqplib";
import { contentOf } from "./codec.js";
import { ConfirmWindow } from "./confirm-window.js";
import type { RabbitConnection } from "./connection.js";
import { describeReply, isResourceError, RabbitError, ReplyCode, replyCodeOf } from "./errors.js";
import { ManagedChannel, raceQuiet } from "./managed-channel.js";

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
  /** Most messages buffered (queued or unconfirmed) at once; sends beyond it wait for room. */
  maxBuffered: number;
  /** Runs on every new channel before it publishes (declarations). */
  setup?(channel: ConfirmChannel): Promise<void>;
  /** Names the exchange in error messages. */
  resource: string;
}

const WAITING = 0;
const IN_FLIGHT = 1;
const DONE = 2;

interface Pending {
  readonly content: Buffer;
  readonly routingKey: string;
  readonly properties: Options.Publish;
  readonly batch: BatchWait;
  state: 0 | 1 | 2;
  returned: RabbitError | undefined;
}

/** One `publish` call: settles when all its messages have, or on the first failure. */
interface BatchWait {
  remaining: number;
  settled: boolean;
  readonly signal: AbortSignal | undefined;
  resolve(): void;
  reject(err: unknown): void;
}

/** See the module comment. */
export class ConfirmPublisher {
  readonly #settings: PublisherSettings;
  readonly #channel: ManagedChannel<ConfirmChannel>;
  readonly #idPrefix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}-`;
  #nextId = 0;
  /** Messages not yet published on the current channel, oldest first. */
  #waiting: Pending[] = [];
  #waitHead = 0;
  /** Published on the current channel and not yet confirmed, by delivery tag. */
  readonly #inflight = new ConfirmWindow<Pending>();
  #current: ConfirmChannel | undefined;
  #generation = 0;
  #paused = false;
  #outstanding = 0;
  #roomWaiters: (() => void)[] = [];
  #closed = false;
  /** Why the last attempt to open a channel gave up, until a new attempt starts. */
  #lastFailure: unknown;
  readonly #watched = new WeakSet<AbortSignal>();

  constructor(connection: RabbitConnection, settings: PublisherSettings) {
    this.#settings = settings;
    this.#channel = new ManagedChannel<ConfirmChannel>(connection, {
      create: (model) => model.createConfirmChannel(),
      setup: async (channel, generation) => {
        channel.on("ack", (f: { deliveryTag: number; multiple: boolean }) => this.#confirm(generation, f, undefined));
        channel.on("nack", (f: { deliveryTag: number; multiple: boolean }) => this.#confirm(generation, f, "nack"));
        channel.on("return", (message: Message) => this.#returned(generation, message));
        channel.on("drain", () => {
          if (generation !== this.#generation) return;
          this.#paused = false;
          this.#pump();
        });
        await settings.setup?.(channel);
      },
      opened: (channel, generation) => {
        this.#current = channel;
        this.#generation = generation;
        this.#paused = false;
        this.#pump();
      },
      closed: (_generation, error) => this.#channelLost(error),
      failed: (error) => this.#failWaiting(error),
    });
    this.#channel.ensureOpen();
  }

  /** The confirm channel in use now, if one is open. */
  get channel(): ConfirmChannel | undefined {
    return this.#current;
  }

  /** Messages queued or awaiting their confirm. */
  get outstanding(): number {
    return this.#outstanding;
  }

  /** Resolves once a channel is open; rejects with the error that stopped it opening (fail-fast connect, declare). */
  async whenOpen(): Promise<void> {
    this.#lastFailure = undefined;
    for (;;) {
      if (this.#current) return;
      if (this.#closed) throw new PubSubError(ErrorCode.FailedPrecondition, `${this.#settings.resource}: closed`);
      this.#channel.ensureOpen();
      await this.#channel.settled();
      if (this.#lastFailure) throw this.#lastFailure;
    }
  }

  /**
   * Publishes `messages` in order. Resolves once the broker confirmed every
   * one; rejects on the first that fails (nack, return, resource error) or
   * when `signal` fires. While the connection is down, it waits.
   */
  publish(messages: DriverMessage[], signal?: AbortSignal): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new PubSubError(ErrorCode.FailedPrecondition, `${this.#settings.resource}: closed`));
    }
    if (signal?.aborted) return Promise.reject(canceledError("send", signal));
    if (this.#outstanding > 0 && this.#outstanding + messages.length > this.#settings.maxBuffered) {
      return this.#room(signal).then(() => this.publish(messages, signal));
    }
    if (messages.length === 0) return Promise.resolve();
    let batch!: BatchWait;
    const done = new Promise<void>((resolve, reject) => {
      batch = { remaining: messages.length, settled: false, signal, resolve, reject };
    });
    const { persistent, mandatory, routingKey } = this.#settings;
    for (const message of messages) {
      this.#waiting.push({
        content: contentOf(message.body),
        routingKey: routingKey(message),
        properties: {
          headers: message.metadata,
          messageId: this.#idPrefix + (this.#nextId++).toString(36),
          persistent,
          mandatory,
        },
        batch,
        state: WAITING,
        returned: undefined,
      });
    }
    this.#outstanding += messages.length;
    this.#lastFailure = undefined;
    if (signal) this.#watch(signal);
    if (this.#current) this.#pump();
    else this.#channel.ensureOpen();
    return done;
  }

  /**
   * Cancels, when `signal` fires, every batch sent with it. Core passes the
   * same signal with every batch of a topic, so one listener per signal serves
   * them all: adding and removing one per batch would cost more than the rest
   * of a sequential send.
   */
  #watch(signal: AbortSignal): void {
    if (this.#watched.has(signal)) return;
    this.#watched.add(signal);
    signal.addEventListener(
      "abort",
      () => {
        const err = canceledError("send", signal);
        for (const pending of this.#waiting) if (pending.batch.signal === signal) this.#settle(pending, err);
        for (const pending of this.#inflight) if (pending.batch.signal === signal) this.#settle(pending, err);
      },
      { once: true },
    );
  }

  #pump(): void {
    const channel = this.#current;
    if (!channel || this.#paused) return;
    const { exchange } = this.#settings;
    if (this.#waiting.length - this.#waitHead > 1) coalesceWrites(channel);
    while (this.#waitHead < this.#waiting.length) {
      const pending = this.#waiting[this.#waitHead] as Pending;
      if (pending.state === DONE) {
        this.#waitHead++;
        continue;
      }
      let flowing: boolean;
      try {
        flowing = channel.publish(exchange, pending.routingKey, pending.content, pending.properties);
      } catch (err) {
        // A closing channel refuses; its close event requeues. Anything else is this message's own fault.
        if ((err as Error)?.name === "IllegalOperationError") return;
        this.#waitHead++;
        this.#settle(pending, unpublishable(this.#settings.resource, err));
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

  #confirm(generation: number, frame: { deliveryTag: number; multiple: boolean }, nack: "nack" | undefined): void {
    if (generation !== this.#generation) return;
    for (const pending of this.#inflight.take(frame.deliveryTag, frame.multiple)) {
      this.#settle(pending, this.#outcome(pending, nack));
    }
  }

  #outcome(pending: Pending, nack: "nack" | undefined): RabbitError | undefined {
    if (nack) {
      return new RabbitError(
        `rabbit: ${this.#settings.resource} refused the message (basic.nack): a queue is full with overflow=reject-publish, or the broker failed to store it`,
        { portable: ErrorCode.ResourceExhausted, retryable: false },
      );
    }
    return pending.returned;
  }

  /** A mandatory message that no queue took comes back before its confirm; the confirm then fails it. */
  #returned(generation: number, message: Message): void {
    if (generation !== this.#generation) return;
    const id = message.properties.messageId;
    const pending = this.#inflight.find((p) => p.properties.messageId === id);
    if (!pending) return;
    const { replyCode, replyText, routingKey } = message.fields as unknown as {
      replyCode: number;
      replyText: string;
      routingKey: string;
    };
    pending.returned = new RabbitError(
      `rabbit: ${this.#settings.resource} could not route the message with routing key "${routingKey}" to any queue (${replyCode} ${replyText}); bind a queue to the exchange, or open a subscription first`,
      { replyCode: replyCode || ReplyCode.NoRoute, retryable: false },
    );
  }

  /** The channel died: resource errors fail what was in flight; anything else puts it back, in order. */
  #channelLost(error: Error | undefined): void {
    const inflight = this.#inflight.reset();
    this.#current = undefined;
    this.#paused = false;
    if (error && isResourceError(error)) {
      const failure = resourceFailure(this.#settings.resource, error);
      for (const pending of inflight) this.#settle(pending, failure);
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
    this.#lastFailure = error;
    for (let i = this.#waitHead; i < this.#waiting.length; i++) {
      this.#settle(this.#waiting[i] as Pending, error);
    }
    this.#waiting = [];
    this.#waitHead = 0;
  }

  #settle(pending: Pending, error: unknown): void {
    if (pending.state === DONE) return;
    pending.state = DONE;
    this.#outstanding--;
    const batch = pending.batch;
    batch.remaining--;
    if (!batch.settled && (error !== undefined || batch.remaining === 0)) {
      batch.settled = true;
      if (error === undefined) batch.resolve();
      else batch.reject(error);
    }
    if (this.#roomWaiters.length > 0) {
      const waiters = this.#roomWaiters;
      this.#roomWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  #room(signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(canceledError("send", signal));
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(canceledError("send", signal));
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#roomWaiters.push(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      });
    });
  }

  /**
   * Waits for outstanding confirms, then closes the channel. When `signal`
   * fires first, what is still unconfirmed fails with Canceled.
   */
  async close(signal: AbortSignal): Promise<void> {
    this.#closed = true;
    while (this.#outstanding > 0 && !signal.aborted) {
      await raceQuiet(this.#room(signal), signal);
    }
    if (this.#outstanding > 0) {
      const err = canceledError("shutdown", signal);
      for (const pending of this.#waiting.slice(this.#waitHead)) this.#settle(pending, err);
      for (const pending of this.#inflight.reset()) this.#settle(pending, err);
    }
    await this.#channel.close(signal);
  }
}

function resourceFailure(resource: string, error: Error): RabbitError {
  const code = replyCodeOf(error);
  let hint = "";
  if (code === ReplyCode.NotFound) hint = "; create it, or open the topic with declare=true";
  else if (code === ReplyCode.AccessRefused) hint = "; the user lacks write permission on it";
  return new RabbitError(`rabbit: publish to ${resource}: ${describeReply(error)}${hint}`, {
    cause: error,
    ...(code === undefined ? {} : { replyCode: code }),
  });
}

function unpublishable(resource: string, err: unknown): RabbitError {
  const detail = err instanceof Error ? err.message : String(err);
  return new RabbitError(`rabbit: cannot publish to ${resource}: ${detail}`, {
    cause: err,
    portable: ErrorCode.InvalidArgument,
    retryable: false,
  });
}

/**
 * amqplib writes every frame to the socket on its own; with no-delay on, a
 * burst of publishes becomes a burst of small TCP segments that cost both
 * sides a syscall each. Corking the socket until amqplib's writer (which runs
 * on setImmediate) has drained the burst sends it in one writev. A single
 * publish is never held back.
 */
function coalesceWrites(channel: ConfirmChannel): void {
  const socket = (channel.connection as unknown as { stream?: { cork?(): void; uncork?(): void } }).stream;
  if (!socket?.cork || !socket.uncork) return;
  socket.cork();
  setImmediate(() => setImmediate(() => socket.uncork?.()));
}

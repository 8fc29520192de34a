/**
 * A queue consumer that does not silently stop. It consumes on a
 * ManagedChannel, so after a channel error, a lost connection or a
 * broker-side cancel (the queue was deleted) it consumes again, with its
 * prefetch. Deliveries wait in a small buffer (at most `prefetch`) until
 * `receive` takes them. Each carries the generation of its channel: an ack
 * for a delivery of a dead channel is dropped quietly (the broker has put
 * the message back already), instead of reaching the new channel, where the
 * broker would reject the unknown delivery tag with PRECONDITION_FAILED and
 * close it.
 */
import { type DriverMessage, ErrorCode, PubSubError, WakeUp } from "@portable-pubsub/core";
import type { Channel, ConsumeMessage } from "amqplib";
import { toDriverMessage } from "./codec.js";
import type { RabbitConnection } from "./connection.js";
import { describeReply, RabbitError, ReplyCode, replyCodeOf } from "./errors.js";
import { ManagedChannel } from "./managed-channel.js";

/** How a QueueConsumer consumes. */
export interface ConsumerSettings {
  queue: string;
  /** Most unacked deliveries the broker sends ahead (basic.qos). */
  prefetch: number;
  /** Runs on every new channel before it consumes (declarations). */
  setup?(channel: Channel): Promise<void>;
  /** Names the queue in error messages. */
  resource: string;
}

/** What the portable layer gets as an ackId: the channel generation and the delivery tag. */
export interface RabbitAckId {
  readonly generation: number;
  readonly deliveryTag: number;
}

/** See the module comment. */
export class QueueConsumer {
  readonly #settings: ConsumerSettings;
  readonly #channel: ManagedChannel<Channel>;
  #current: Channel | undefined;
  #generation = 0;
  #consumerTag: string | undefined;
  #buffer: DriverMessage[] = [];
  #head = 0;
  readonly #arrivals = new WakeUp();
  #failure: unknown;
  #closed = false;

  constructor(connection: RabbitConnection, settings: ConsumerSettings) {
    this.#settings = settings;
    this.#channel = new ManagedChannel<Channel>(connection, {
      create: (model) => model.createChannel(),
      setup: async (channel, generation) => {
        await settings.setup?.(channel);
        await channel.prefetch(settings.prefetch);
        const { consumerTag } = await channel.consume(settings.queue, (message) =>
          this.#delivered(channel, generation, message),
        );
        this.#consumerTag = consumerTag;
      },
      opened: (channel, generation) => {
        this.#current = channel;
        this.#generation = generation;
        this.#failure = undefined;
      },
      closed: () => {
        this.#current = undefined;
        // The broker requeues whatever this channel had delivered and not seen acked.
        this.#buffer = [];
        this.#head = 0;
      },
      failed: (error) => {
        this.#failure = consumeFailure(settings.resource, error);
        this.#wakeUp();
      },
    });
    this.#channel.ensureOpen();
  }

  /** The channel consuming now, if any. */
  get channel(): Channel | undefined {
    return this.#current;
  }

  /** Resolves once consuming; rejects with what stopped it (a missing queue, a fail-fast connect). */
  async whenConsuming(): Promise<void> {
    for (;;) {
      if (this.#current) return;
      if (this.#closed) throw new PubSubError(ErrorCode.FailedPrecondition, `${this.#settings.resource}: closed`);
      this.#channel.ensureOpen();
      await this.#channel.settled();
      if (this.#current) return;
      const failure = this.#failure;
      if (failure) {
        this.#failure = undefined;
        throw failure;
      }
    }
  }

  #delivered(channel: Channel, generation: number, message: ConsumeMessage | null): void {
    if (message === null) {
      // The broker cancelled the consumer (its queue was deleted): reopen, which consumes again or reports why not.
      channel.close().catch(() => {});
      return;
    }
    const ackId: RabbitAckId = { generation, deliveryTag: message.fields.deliveryTag };
    this.#buffer.push(toDriverMessage(message, ackId));
    this.#wakeUp();
  }

  #wakeUp(): void {
    this.#arrivals.wakeAll();
  }

  /**
   * Returns up to `max` deliveries, waiting at most `maxWaitMs` for the first
   * one. Throws what stopped consuming (NotFound for a missing queue) once;
   * the next call tries to consume again.
   */
  async receive(max: number, maxWaitMs: number, signal: AbortSignal): Promise<DriverMessage[]> {
    if (this.#head === this.#buffer.length) {
      this.#throwFailure();
      this.#channel.ensureOpen();
      await this.#arrivals.wait(maxWaitMs, signal);
      this.#throwFailure();
    }
    const end = Math.min(this.#buffer.length, this.#head + max);
    const batch = this.#buffer.slice(this.#head, end);
    this.#head = end;
    if (this.#head === this.#buffer.length) {
      this.#buffer = [];
      this.#head = 0;
    }
    return batch;
  }

  #throwFailure(): void {
    const failure = this.#failure;
    if (failure === undefined) return;
    this.#failure = undefined;
    throw failure;
  }

  /** Acks deliveries of the current channel; those of a dead channel are dropped (the broker redelivers them). */
  ack(ids: unknown[]): void {
    this.#settle(ids, (channel, tag) => channel.ack(fakeMessage(tag)));
  }

  /** Returns deliveries of the current channel to the queue at once; those of a dead channel are back already. */
  nack(ids: unknown[]): void {
    this.#settle(ids, (channel, tag) => channel.nack(fakeMessage(tag), false, true));
  }

  #settle(ids: unknown[], send: (channel: Channel, tag: number) => void): void {
    const channel = this.#current;
    if (!channel) return;
    for (const id of ids) {
      const { generation, deliveryTag } = id as RabbitAckId;
      if (generation !== this.#generation) continue;
      try {
        send(channel, deliveryTag);
      } catch {
        // The channel is closing: the broker requeues the delivery, so there is nothing to report.
        return;
      }
    }
  }

  /**
   * Stops consuming: cancels the consumer so that no more arrive, then
   * closes the channel (the broker requeues what was delivered and not
   * acked), within `signal`'s deadline.
   */
  async close(signal: AbortSignal): Promise<void> {
    this.#closed = true;
    await this.#channel.close(signal, async (channel) => {
      if (this.#consumerTag !== undefined) await channel.cancel(this.#consumerTag);
    });
    this.#buffer = [];
    this.#head = 0;
    this.#wakeUp();
  }
}

function fakeMessage(deliveryTag: number): ConsumeMessage {
  return { fields: { deliveryTag } } as ConsumeMessage;
}

function consumeFailure(resource: string, error: unknown): unknown {
  const code = replyCodeOf(error);
  if (code === undefined || error instanceof RabbitError) return error;
  let hint = "";
  if (code === ReplyCode.NotFound)
    hint = "; create it (and bind it to an exchange), or open the subscription with declare=true";
  else if (code === ReplyCode.AccessRefused) hint = "; the user lacks read permission on it";
  else if (code === ReplyCode.ResourceLocked) hint = "; another connection consumes it exclusively";
  return new RabbitError(`rabbit: consume from ${resource}: ${describeReply(error)}${hint}`, {
    cause: error,
    replyCode: code,
  });
}

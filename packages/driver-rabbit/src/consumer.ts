/**
 * A queue consumer that does not silently stop. It consumes on a
 * ManagedChannel, so after a channel error, a lost connection or a
 * broker-side cancel (the queue was deleted) it consumes again, with its
 * prefetch. Deliveries wait in the kit's DeliveryBuffer (at most
 * `prefetch`) until `receive` takes them. Each carries the generation of its
 * channel: an ack for a delivery of a dead channel is dropped quietly (the
 * broker has put the message back already), instead of reaching the new
 * channel, where the broker would reject the unknown delivery tag with
 * PRECONDITION_FAILED and close it.
 */
import { type BufferedAckId, DeliveryBuffer, type DriverMessage, type Notices } from "@portable-pubsub/core/driver";
import type { Channel, ConsumeMessage } from "amqplib";
import { AckFrontier } from "./ack-frontier.js";
import type { RabbitConnection } from "./amqp/connection.js";
import { type ChannelLease, ManagedChannel } from "./amqp/managed-channel.js";
import { toDriverMessage } from "./codec.js";
import type { ChannelSession } from "./driver-base.js";
import { AutoPrefetch, INITIAL_PREFETCH } from "./prefetch.js";

/** How a QueueConsumer consumes. */
export interface ConsumerSettings {
  queue: string;
  /** Most unacked deliveries the broker sends ahead (basic.qos); undefined follows the message size (see prefetch.ts). */
  prefetch: number | undefined;
  /** Runs on every new channel before it consumes (declarations). */
  setup?(channel: Channel): Promise<void>;
}

/** What the portable layer gets as an ackId: the channel's generation and the delivery tag (`id`). */
export type RabbitAckId = BufferedAckId<number>;

/** See the module comment. */
export class QueueConsumer implements ChannelSession<Channel> {
  readonly #channel: ManagedChannel<Channel>;
  #consumerTag: string | undefined;
  /** Deliveries not taken yet, and which ackIds are still good: those of the current channel, not settled yet. */
  readonly #deliveries = new DeliveryBuffer<number>({ carrier: "channel" });
  readonly #queue: string;
  readonly #auto: AutoPrefetch | undefined;
  readonly #frontier = new AckFrontier();
  /** Deliveries of the current channel not settled yet: when it reaches the prefetch, the broker sends no more. */
  #unacked = 0;
  /** The lease being set up: see `#lease`. */
  #starting: ChannelLease<Channel> | undefined;
  /** Events for the application's logger: acks dropped because their channel closed. */
  readonly notices: Notices = this.#deliveries.notices;

  constructor(connection: RabbitConnection, settings: ConsumerSettings) {
    this.#queue = settings.queue;
    this.#auto = settings.prefetch === undefined ? new AutoPrefetch() : undefined;
    this.#channel = new ManagedChannel<Channel>(connection, {
      role: "consume",
      create: (model) => model.createChannel(),
      setup: async (lease) => {
        this.#starting = lease;
        const { channel } = lease;
        await settings.setup?.(channel);
        await channel.prefetch(settings.prefetch ?? this.#auto?.current ?? INITIAL_PREFETCH);
        this.#consumerTag = await this.#consume(lease);
      },
      closed: (lease) => {
        if (this.#starting === lease) this.#starting = undefined;
        // The broker requeues whatever this channel had delivered and not seen acked; its ackIds go stale.
        this.#deliveries.disconnected();
        this.#unacked = 0;
      },
      // A receive waiting for messages throws the failure at once rather than after its wait.
      failed: () => this.#deliveries.wake(),
    });
    this.#channel.ensureOpen();
  }

  /** The channel consuming now, if any. */
  get channel(): Channel | undefined {
    return this.#lease()?.channel;
  }

  /**
   * The channel deliveries come from. Deliveries can arrive in the same TCP
   * read as consume-ok, and be received, before the managed channel has
   * installed its lease a few microtasks later; their acks belong to the
   * lease being set up, not to a dead channel.
   */
  #lease(): ChannelLease<Channel> | undefined {
    const lease = this.#channel.lease;
    if (lease) {
      this.#starting = undefined;
      return lease;
    }
    return this.#starting;
  }

  /** Resolves once consuming; rejects with what stopped it (a missing queue, a fail-fast connect), or when `signal` fires. */
  async whenOpen(signal: AbortSignal): Promise<void> {
    await this.#channel.whenOpen(signal);
  }

  async #consume(lease: ChannelLease<Channel>): Promise<string> {
    const { consumerTag } = await lease.channel.consume(this.#queue, (message) => this.#delivered(lease, message));
    return consumerTag;
  }

  #delivered(lease: ChannelLease<Channel>, message: ConsumeMessage | null): void {
    if (message === null) {
      // The broker cancelled the consumer (its queue was deleted): reopen, which consumes again or reports why not.
      lease.channel.close().catch(() => {});
      return;
    }
    const prefetch = this.#auto?.observe(message.content.length);
    if (prefetch !== undefined) void this.#reconsume(lease, prefetch);
    // A delivery a closed channel's frames still carried: the broker requeued it, and its tag means nothing now.
    if (lease !== this.#lease()) return;
    this.#unacked++;
    this.#deliveries.add(toDriverMessage(message, this.#deliveries.ackIdFor(message.fields.deliveryTag)));
  }

  /**
   * Applies a new automatic prefetch. basic.qos only applies to consumers
   * started after it, so the consumer is replaced: the new one starts before
   * the old one is cancelled, on the same channel, so deliveries and their
   * acks go on without a gap. Failures are left to the channel's recovery,
   * which consumes with the new prefetch.
   */
  async #reconsume(lease: ChannelLease<Channel>, prefetch: number): Promise<void> {
    try {
      const old = this.#consumerTag;
      await lease.channel.prefetch(prefetch);
      if (lease !== this.#channel.lease) return;
      const tag = await this.#consume(lease);
      if (lease !== this.#channel.lease) return;
      this.#consumerTag = tag;
      if (old !== undefined) await lease.channel.cancel(old);
    } catch {
      // The channel is closing; its reopening consumes again with the automatic prefetch's current value.
    }
  }

  /**
   * Returns up to `max` deliveries, waiting at most `maxWaitMs` for the first
   * one. Throws what stopped consuming (NotFound for a missing queue) once;
   * the next call tries to consume again.
   */
  async receive(max: number, maxWaitMs: number, signal: AbortSignal): Promise<DriverMessage[]> {
    if (this.#deliveries.size === 0) {
      this.#throwFailure();
      this.#channel.ensureOpen();
      if (this.#auto && this.#unacked >= this.#auto.current) this.#starved();
    }
    const batch = await this.#deliveries.take(max, maxWaitMs, signal);
    if (batch.length === 0) this.#throwFailure();
    return batch;
  }

  /** The application waits while the whole window is unacked: a larger automatic prefetch, if it may grow. */
  #starved(): void {
    const lease = this.#lease();
    const prefetch = lease && this.#auto?.starved();
    if (lease && prefetch !== undefined) void this.#reconsume(lease, prefetch);
  }

  #throwFailure(): void {
    const failure = this.#channel.takeFailure();
    if (failure !== undefined) throw failure;
  }

  /**
   * Acks deliveries of the current channel, a run from the lowest pending
   * one as one frame (see AckFrontier); those of a dead channel are dropped
   * (the broker redelivers them), and reported as a notice.
   */
  ack(ids: unknown[]): void {
    const lease = this.#lease();
    const tags = this.#deliveries.claim(ids);
    this.#unacked -= tags.length;
    if (!lease || tags.length === 0) return;
    const { upTo, single } = this.#frontier.settle(this.#deliveries.generation, tags);
    try {
      if (upTo !== undefined) lease.channel.ack(fakeMessage(upTo), true);
      for (const tag of single) lease.channel.ack(fakeMessage(tag));
    } catch {
      // The channel is closing: the broker requeues the deliveries, so there is nothing to report.
    }
  }

  /** Returns deliveries of the current channel to the queue at once; those of a dead channel are back already. */
  nack(ids: unknown[]): void {
    const lease = this.#lease();
    const tags = this.#deliveries.claim(ids);
    this.#unacked -= tags.length;
    if (!lease || tags.length === 0) return;
    this.#frontier.settle(this.#deliveries.generation, tags);
    try {
      for (const tag of tags) lease.channel.nack(fakeMessage(tag), false, true);
    } catch {
      // As for acks.
    }
  }

  /**
   * True while the delivery of `id` is pending on the current channel: not
   * settled here, and its channel alive (else the broker has put it back).
   */
  holds(id: unknown): boolean {
    return this.#lease() !== undefined && this.#deliveries.holds(id);
  }

  /**
   * Stops consuming: cancels the consumer so that no more arrive, then
   * closes the channel (the broker requeues what was delivered and not
   * acked), within `signal`'s deadline.
   */
  async close(signal: AbortSignal): Promise<void> {
    await this.#channel.close(signal, async (channel) => {
      if (this.#consumerTag !== undefined) await channel.cancel(this.#consumerTag);
    });
    // What was buffered is the broker's again (the channel closed): drop it.
    this.#deliveries.drain();
  }
}

function fakeMessage(deliveryTag: number): ConsumeMessage {
  return { fields: { deliveryTag } } as ConsumeMessage;
}

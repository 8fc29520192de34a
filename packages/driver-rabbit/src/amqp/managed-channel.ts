/**
 * One channel that keeps itself open: after the broker closes it (a channel
 * error) or the connection goes, it opens a new one on the current
 * connection and runs its owner's setup again. Each channel it opens is
 * handed out as a {@link ChannelLease} with a new generation number; the
 * lease of the open channel is the one place that says which channel is
 * current, so owners tell a dead channel's late events and delivery tags
 * apart by comparing against it instead of keeping copies.
 */
import { backoffDelay, ErrorCode, raceSignal, settledWithin, sleep } from "@portable-pubsub/core/driver";
import type { Channel, ChannelModel } from "amqplib";
import { isResourceError, RabbitError, type RabbitRole, refusal } from "../errors.js";
import { channelsExhausted, isChannelMaxError } from "./channel-max.js";
import type { RabbitConnection } from "./connection.js";

/** One channel of a ManagedChannel, and which one it is. */
export interface ChannelLease<C extends Channel> {
  readonly channel: C;
  /** Counts the channels the ManagedChannel opened: 1 for the first, +1 per reopen. */
  readonly generation: number;
}

/** What the owner of a ManagedChannel does at each stage of a channel's life. */
export interface ChannelHooks<C extends Channel> {
  /** What the channel is for: broker refusals on it are RabbitErrors of this role, which picks their hint. */
  readonly role: RabbitRole;
  /** Creates the channel (plain or confirm). */
  create(model: ChannelModel): Promise<C>;
  /**
   * Prepares a fresh channel (declare, prefetch, consume) before anyone uses
   * it. Listeners for the channel's events are attached here, before the
   * first frame can arrive.
   */
  setup(lease: ChannelLease<C>): Promise<void>;
  /** The channel is ready for use: `lease` is now current. */
  opened?(lease: ChannelLease<C>): void;
  /** The channel is gone; `error` is the broker's reason, or undefined when its connection was lost or it was closed. */
  closed(lease: ChannelLease<C>, error: unknown): void;
  /**
   * Opening failed in a way that retrying will not fix by itself (a missing
   * queue, a refused permission, a first connection that failed fast):
   * reopening stops until {@link ManagedChannel.ensureOpen}.
   */
  failed(error: unknown): void;
}

/** A channel that reopens itself; see the module comment. */
export class ManagedChannel<C extends Channel> {
  readonly #connection: RabbitConnection;
  readonly #hooks: ChannelHooks<C>;
  readonly #stop = new AbortController();
  #lease: ChannelLease<C> | undefined;
  #generation = 0;
  #opening: Promise<void> | undefined;
  /** Why the last attempt to open gave up, until taken or a new attempt starts. */
  #failure: unknown;
  #closed = false;

  constructor(connection: RabbitConnection, hooks: ChannelHooks<C>) {
    this.#connection = connection;
    this.#hooks = hooks;
  }

  /** The open channel and its generation, or undefined while none is open. */
  get lease(): ChannelLease<C> | undefined {
    return this.#lease;
  }

  /** Starts opening a channel unless one is open or being opened. */
  ensureOpen(): void {
    if (this.#lease || this.#opening || this.#closed) return;
    this.#failure = undefined;
    this.#opening = this.#openLoop().finally(() => {
      this.#opening = undefined;
      // Reported only once no attempt is under way: an owner that asks for a channel as it learns of the
      // failure (a send enqueued in that moment) must start a new attempt, not wait on the one that gave up.
      if (this.#failure !== undefined && !this.#closed) this.#hooks.failed(this.#failure);
    });
  }

  /** Returns, and forgets, why the last attempt to open gave up; undefined if it did not. */
  takeFailure(): unknown {
    const failure = this.#failure;
    this.#failure = undefined;
    return failure;
  }

  /**
   * Resolves with the open channel, opening one if needed. Rejects with what
   * stopped opening (a first connection that failed fast, a missing queue,
   * a refused declaration), when the channel is closed for good, or with
   * Canceled when `signal` fires.
   */
  async whenOpen(signal: AbortSignal): Promise<ChannelLease<C>> {
    for (;;) {
      if (this.#lease) return this.#lease;
      if (this.#closed) {
        throw new RabbitError("the channel has been closed", { portable: ErrorCode.FailedPrecondition });
      }
      this.ensureOpen();
      await raceSignal(this.#opening ?? Promise.resolve(), signal, "open");
      const failure = this.takeFailure();
      if (failure !== undefined) throw failure;
    }
  }

  async #openLoop(): Promise<void> {
    let failures = 0;
    while (!this.#closed) {
      let model: ChannelModel;
      try {
        model = await this.#connection.model(this.#stop.signal);
      } catch (err) {
        this.#fail(err);
        return;
      }
      let channel: C | undefined;
      let channelError: Error | undefined;
      try {
        channel = await this.#hooks.create(model);
        const lease: ChannelLease<C> = { channel, generation: ++this.#generation };
        // The channel can close before it is current: a connection.close in the same segment as
        // confirm.select-ok or basic.consume-ok closes it before `create` or `setup` resumes here.
        let gone = hasClosed(channel);
        // Every event amqplib can emit gets a listener first: an unhandled 'error' would crash the process.
        channel.on("error", (err: Error) => {
          channelError = err;
        });
        channel.on("handler-error", () => {});
        channel.once("close", () => {
          gone = true;
          this.#onClose(lease, channelError);
        });
        if (!gone) await this.#hooks.setup(lease);
        if (this.#closed) {
          void channel.close().catch(() => {});
          return;
        }
        if (gone || hasClosed(channel)) {
          // Installing it would leave a dead lease current for good: nothing would ever reopen it.
          this.#hooks.closed(lease, channelError && refusal(channelError, this.#hooks.role));
          if (isResourceError(channelError)) {
            this.#fail(channelError);
            return;
          }
          throw new RabbitError("the channel closed during its setup", { retryable: true });
        }
        this.#lease = lease;
        this.#hooks.opened?.(lease);
        return;
      } catch (err) {
        // A channel whose setup failed is of no use; the broker may already have closed it.
        channel?.close().catch(() => {});
        if (isResourceError(err)) {
          this.#fail(err);
          return;
        }
        if (isChannelMaxError(err)) {
          this.#fail(channelsExhausted(model, this.#connection.display));
          return;
        }
        // The connection went away under us, or the broker had a moment: wait a little, then try again.
        failures++;
        await sleep(backoffDelay(failures, 50, 2000), this.#stop.signal).catch(() => {});
      }
    }
  }

  #fail(err: unknown): void {
    if (this.#closed) return;
    this.#failure = refusal(err, this.#hooks.role);
  }

  #onClose(lease: ChannelLease<C>, error: Error | undefined): void {
    if (this.#lease !== lease) return;
    this.#lease = undefined;
    this.#hooks.closed(lease, error && refusal(error, this.#hooks.role));
    if (!this.#closed) this.ensureOpen();
  }

  /**
   * Gives up on `lease`'s channel, if it is still current, as if the broker
   * had closed it: the owner's `closed` runs now and a new channel opens. The
   * old channel is closed in the background and its late events are ignored,
   * since one that stopped answering may never confirm its close either. For
   * an owner that finds its channel no longer works while the connection
   * does (a publisher confirm long overdue).
   */
  abandon(lease: ChannelLease<C>): void {
    if (this.#lease !== lease || this.#closed) return;
    lease.channel.close().catch(() => {});
    this.#onClose(lease, undefined);
  }

  /**
   * Closes the channel for good after `beforeClose` (such as cancelling a
   * consumer) ran. Returns once the broker confirmed, the channel or its
   * connection closed by other means, or `signal` fired.
   */
  async close(signal: AbortSignal, beforeClose?: (channel: C) => Promise<unknown>): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop.abort();
    const lease = this.#lease;
    this.#lease = undefined;
    if (!lease) return;
    const { channel } = lease;
    // amqplib settles close() only on close-ok; a broker that answers with connection.close (as RabbitMQ
    // does while it stops) never sends one, so the channel's own close event ends the wait too.
    const gone = new Promise<void>((resolve) => {
      if (hasClosed(channel)) resolve();
      else channel.once("close", () => resolve());
    });
    const work = (async () => {
      if (beforeClose) await Promise.race([beforeClose(channel).catch(() => {}), gone]);
      await Promise.race([channel.close().catch(() => {}), gone]);
    })();
    await settledWithin(work, signal);
  }
}

/**
 * amqplib has no "closed" flag on a channel; moving one to its closed state
 * sets its list of pending RPCs to null, for good.
 */
function hasClosed(channel: Channel): boolean {
  return (channel as unknown as { pending: unknown[] | null }).pending === null;
}

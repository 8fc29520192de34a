/**
 * One channel that keeps itself open: after the broker closes it (a channel
 * error) or the connection goes, it opens a new one on the current
 * connection and runs its owner's setup again. Each channel it opens gets a
 * new generation number, so that owners can tell what belongs to a dead one.
 */
import { backoffDelay, sleep } from "@portable-pubsub/core";
import type { Channel, ChannelModel } from "amqplib";
import type { RabbitConnection } from "./connection.js";
import { isResourceError } from "./errors.js";

/** What the owner of a ManagedChannel does at each stage of a channel's life. */
export interface ChannelHooks<C extends Channel> {
  /** Creates the channel (plain or confirm). */
  create(model: ChannelModel): Promise<C>;
  /**
   * Prepares a fresh channel (declare, prefetch, consume) before anyone uses
   * it. Listeners for the channel's events are attached here, before the
   * first frame can arrive; `generation` identifies this channel.
   */
  setup(channel: C, generation: number): Promise<void>;
  /** The channel is ready for use. */
  opened(channel: C, generation: number): void;
  /** The channel is gone; `error` is the broker's reason, or undefined when its connection was lost or it was closed. */
  closed(generation: number, error: Error | undefined): void;
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
  #channel: C | undefined;
  #generation = 0;
  #opening = false;
  #closed = false;
  #openWaiters: (() => void)[] = [];

  constructor(connection: RabbitConnection, hooks: ChannelHooks<C>) {
    this.#connection = connection;
    this.#hooks = hooks;
  }

  /** The open channel, or undefined while none is. */
  get current(): C | undefined {
    return this.#channel;
  }

  /** Starts opening a channel unless one is open or being opened. */
  ensureOpen(): void {
    if (this.#channel || this.#opening || this.#closed) return;
    this.#opening = true;
    void this.#openLoop().finally(() => {
      this.#opening = false;
      const waiters = this.#openWaiters;
      this.#openWaiters = [];
      for (const wake of waiters) wake();
    });
  }

  /** Resolves once the current open attempt has ended, in success or failure. */
  settled(): Promise<void> {
    if (!this.#opening) return Promise.resolve();
    return new Promise((resolve) => this.#openWaiters.push(resolve));
  }

  async #openLoop(): Promise<void> {
    let failures = 0;
    while (!this.#closed) {
      let model: ChannelModel;
      try {
        model = await this.#connection.model(this.#stop.signal);
      } catch (err) {
        if (!this.#closed) this.#hooks.failed(err);
        return;
      }
      let channel: C | undefined;
      let channelError: Error | undefined;
      try {
        channel = await this.#hooks.create(model);
        const generation = ++this.#generation;
        const opened = channel;
        opened.on("error", (err: Error) => {
          channelError = err;
        });
        opened.on("handler-error", () => {});
        opened.once("close", () => this.#onClose(opened, generation, channelError));
        await this.#hooks.setup(opened, generation);
        if (this.#closed) {
          await opened.close().catch(() => {});
          return;
        }
        this.#channel = opened;
        this.#hooks.opened(opened, generation);
        return;
      } catch (err) {
        // A channel whose setup failed is of no use; the broker may already have closed it.
        channel?.close().catch(() => {});
        if (this.#closed) return;
        if (isResourceError(err)) {
          this.#hooks.failed(err);
          return;
        }
        // The connection went away under us, or the broker had a moment: wait a little, then try again.
        failures++;
        await sleep(backoffDelay(failures, 50, 2000), this.#stop.signal).catch(() => {});
      }
    }
  }

  #onClose(channel: C, generation: number, error: Error | undefined): void {
    if (this.#channel !== channel) return;
    this.#channel = undefined;
    this.#hooks.closed(generation, error);
    if (!this.#closed) this.ensureOpen();
  }

  /**
   * Closes the channel for good after `beforeClose` (such as cancelling a
   * consumer) ran. Returns once the broker confirmed, or `signal` fired.
   */
  async close(signal: AbortSignal, beforeClose?: (channel: C) => Promise<unknown>): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop.abort();
    const channel = this.#channel;
    this.#channel = undefined;
    if (!channel) return;
    const work = (async () => {
      if (beforeClose) await beforeClose(channel).catch(() => {});
      await channel.close().catch(() => {});
    })();
    await raceQuiet(work, signal);
  }
}

/** Waits for `work` or `signal`, whichever comes first, never rejecting. */
export function raceQuiet(work: Promise<unknown>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      signal.removeEventListener("abort", done);
      resolve();
    };
    signal.addEventListener("abort", done, { once: true });
    work.then(done, done);
  });
}

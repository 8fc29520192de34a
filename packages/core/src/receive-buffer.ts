import type { DriverMessage } from "./driver/driver.js";
import { canceledError, type PubSubError } from "./errors.js";
import type { Message } from "./message.js";
import type { ReceiveSizer } from "./receive-sizer.js";

/** What a ReceiveBuffer borrows from its host, the Subscription that owns it. */
export interface ReceiveBufferHost {
  /** Fetches the next batch of at most `max` messages from the driver (with retries). */
  fetch(max: number): Promise<DriverMessage[]>;
  /**
   * The arrived messages that may be handed out (settling admits them, a
   * typed subscription decodes them); a promise only where a schema
   * validates asynchronously.
   */
  admit(arrived: DriverMessage[]): DriverMessage[] | Promise<DriverMessage[]>;
  /** The Message a caller gets for a driver message. */
  toMessage(message: DriverMessage): Message;
  /** Gives back messages that arrived after shutdown began. */
  returnUnhanded(messages: DriverMessage[]): void;
  /** True once the subscription is shut down. */
  closed(): boolean;
  /** The error a failed fetch leaves for every later receive. */
  wrapFatal(err: unknown): PubSubError;
}

/** Taken slots at the queue's head past which its array is copied without them, once they are half of it. */
const COMPACT_AFTER = 1024;

interface Waiter {
  resolve: (message: Message) => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * The messages a Subscription fetched and nobody took yet, and the callers
 * waiting for one: fetches ahead while messages are being taken (sized by the
 * ReceiveSizer), never while the subscription is idle; one fetch at a time.
 * A fetch that fails for good fails every waiter and every later receive.
 */
export class ReceiveBuffer {
  readonly #host: ReceiveBufferHost;
  readonly #sizer: ReceiveSizer;
  #queue: DriverMessage[] = [];
  #head = 0;
  #waiters: Waiter[] = [];
  #fetching = false;
  /** The fetch in flight, with its admission: settles once its messages were delivered or given back. */
  #inflight: Promise<void> = Promise.resolve();
  #fatal: PubSubError | undefined;

  constructor(host: ReceiveBufferHost, sizer: ReceiveSizer) {
    this.#host = host;
    this.#sizer = sizer;
  }

  /** The error receiving cannot get past, once a fetch failed for good. */
  get fatal(): PubSubError | undefined {
    return this.#fatal;
  }

  /** The next buffered message, or undefined when none is here. */
  take(): Message | undefined {
    if (this.#head === this.#queue.length) return undefined;
    const next = this.#queue[this.#head] as DriverMessage;
    this.#queue[this.#head] = undefined as unknown as DriverMessage;
    this.#head++;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head >= COMPACT_AFTER && this.#head * 2 >= this.#queue.length) {
      // A consumer that keeps up with the fetches ahead never empties the queue: without this, its
      // array kept a slot for every message ever received (about 2 KB per message still buffered).
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    this.#sizer.delivered(1);
    if (this.#queue.length - this.#head <= this.#sizer.lowWater()) this.#pump();
    return this.#host.toMessage(next);
  }

  /** Waits for the next message to arrive; rejects with Canceled when `signal` fires. */
  wait(signal: AbortSignal | undefined): Promise<Message> {
    return new Promise<Message>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, signal, onAbort: undefined };
      if (signal) {
        waiter.onAbort = () => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          reject(canceledError("receive", signal));
        };
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      this.#waiters.push(waiter);
      this.#pump();
    });
  }

  /**
   * Settles once the fetch in flight, if any, is over and what it brought
   * was delivered or given back (`returnUnhanded` after `close`). Shutdown
   * waits for it, so that messages a fetch brought back as it was aborted
   * are returned while the driver is still open.
   */
  fetched(): Promise<void> {
    return this.#inflight;
  }

  /** Fails every waiter with `error()` and returns the messages nobody took, emptying the buffer. */
  close(error: () => unknown): DriverMessage[] {
    this.#failWaiters(error);
    const unhanded = this.#queue.slice(this.#head);
    this.#queue = [];
    this.#head = 0;
    return unhanded;
  }

  #pump(): void {
    if (this.#fetching || this.#host.closed() || this.#fatal) return;
    this.#fetching = true;
    this.#inflight = this.#host.fetch(this.#sizer.nextBatchSize()).then(
      (messages) => this.#arrived(messages),
      (err: unknown) => this.#failed(err),
    );
  }

  #arrived(arrived: DriverMessage[]): void | Promise<void> {
    if (this.#host.closed()) {
      this.#fetching = false;
      this.#host.returnUnhanded(arrived);
      return;
    }
    const admitted = this.#host.admit(arrived);
    if (Array.isArray(admitted)) {
      this.#fetching = false;
      this.#deliver(admitted);
      return;
    }
    // Still "fetching" until they are admitted: batches stay in order, one at a time.
    return admitted.then(
      (messages) => {
        this.#fetching = false;
        if (this.#host.closed()) this.#host.returnUnhanded(messages);
        else this.#deliver(messages);
      },
      (err: unknown) => this.#failed(err),
    );
  }

  #deliver(messages: DriverMessage[]): void {
    let i = 0;
    while (i < messages.length && this.#waiters.length > 0) {
      const waiter = this.#waiters.shift() as Waiter;
      if (waiter.onAbort) waiter.signal?.removeEventListener("abort", waiter.onAbort);
      this.#sizer.delivered(1);
      waiter.resolve(this.#host.toMessage(messages[i++] as DriverMessage));
    }
    const handedOut = i;
    // Into an empty queue as one copy: pushed one by one, the array grew (and was copied) several times a batch.
    if (this.#head === this.#queue.length) {
      this.#queue = messages.slice(i);
      this.#head = 0;
    } else for (; i < messages.length; i++) this.#queue.push(messages[i] as DriverMessage);
    // Fetch ahead only while someone is taking messages; an idle subscription must not poll.
    if (this.#waiters.length > 0 || (handedOut > 0 && this.#queue.length - this.#head <= this.#sizer.lowWater())) {
      this.#pump();
    }
  }

  #failed(err: unknown): void {
    this.#fetching = false;
    if (this.#host.closed()) return;
    const fatal = this.#host.wrapFatal(err);
    this.#fatal = fatal;
    this.#failWaiters(() => fatal);
  }

  #failWaiters(error: () => unknown): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) {
      if (waiter.onAbort) waiter.signal?.removeEventListener("abort", waiter.onAbort);
      waiter.reject(error());
    }
  }
}

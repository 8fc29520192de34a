import { canceledError } from "../errors.js";
import { afterMicrotasks } from "./microtasks.js";

/** How a {@link Batcher} groups items. */
export interface BatcherOptions {
  /** Most items in one batch. */
  maxItems: number;
  /** Most bytes (as `sizeOf` measures them) in one batch; one larger item still goes alone. */
  maxBytes: number;
  /** Most batches handled at once. */
  maxConcurrency: number;
  /**
   * How long a batch that is not full may wait for more items before it is
   * handed over, in ms. 0 hands it over at the end of the current tick, so
   * items added together still travel together while a lone item is not delayed;
   * no-wait items (`addNoWait`) gather a little longer, until the end of the
   * event loop's turn (setImmediate) or a full batch.
   */
  lingerMs: number;
}

/** The promise side of an item added with `add`; items added with `addNoWait` have none. */
interface Waiter {
  signal: AbortSignal | undefined;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** A batch being handled: its items, and the waiter of each (undefined for no-wait items). */
interface Taken<T> {
  items: T[];
  waiters: (Waiter | undefined)[];
}

/**
 * Groups items into batches for a handler, as the Go CDK's batcher does: when
 * nothing is in flight an item goes at once, so latency stays low when traffic
 * is light; items added while a batch runs are grouped at the end of the tick
 * (or after the linger), and batches grow by themselves while all handler
 * slots are busy. No-wait items, which nobody awaits, always gather until the
 * end of the event loop's turn or a full batch.
 * Shared by sends and acks; it knows nothing about messages.
 */
export class Batcher<T> {
  readonly #handler: (items: T[]) => Promise<void>;
  readonly #options: BatcherOptions;
  readonly #sizeOf: (item: T) => number;
  readonly #onError: (err: unknown) => void;
  // Parallel arrays rather than one object per item: acks come by the hundred thousand a second.
  // Sizes are measured when a batch is cut, not kept per item: `sizeOf` must be a pure function of the item.
  #items: T[] = [];
  #waiters: (Waiter | undefined)[] = [];
  #head = 0;
  /** Pending items added with a signal: while there is none, a batch is cut without looking for canceled ones. */
  #signaled = 0;
  #running = 0;
  /** Batches handed to the handler and not yet settled, so that `failAll` can settle their waiters. */
  readonly #inFlight = new Set<Taken<T>>();
  #scheduled = false;
  #lingerTimer: NodeJS.Timeout | undefined;
  /** The end-of-turn hand-over of no-wait items (see `#schedule`). */
  #turnEnd: NodeJS.Immediate | undefined;
  #idleWaiters: (() => void)[] = [];
  /** `#fire` as one function for every later hand-over (end of tick, end of turn, linger), not a closure each. */
  readonly #fireLater = () => this.#fire();

  constructor(
    handler: (items: T[]) => Promise<void>,
    options: BatcherOptions,
    sizeOf: (item: T) => number = () => 0,
    onError: (err: unknown) => void = () => {},
  ) {
    this.#handler = handler;
    this.#options = options;
    this.#sizeOf = sizeOf;
    this.#onError = onError;
  }

  /** Items waiting for a batch, not counting those being handled. */
  get pending(): number {
    return this.#items.length - this.#head;
  }

  /** Adds `item`; the promise settles when its batch has been handled. */
  add(item: T, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#push(item, { signal, resolve, reject });
    });
  }

  /** Adds `item` without a promise; a failed batch goes to `onError`. */
  addNoWait(item: T): void {
    this.#push(item, undefined);
  }

  #push(item: T, waiter: Waiter | undefined): void {
    this.#items.push(item);
    this.#waiters.push(waiter);
    if (waiter?.signal !== undefined) this.#signaled++;
    this.#schedule(waiter === undefined);
  }

  /** Resolves once nothing is pending or being handled. */
  flush(): Promise<void> {
    if (this.pending === 0 && this.#running === 0) return Promise.resolve();
    this.#fire();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Rejects every item that no handler has taken yet with `err`. */
  failPending(err: unknown): void {
    const waiters = this.#waiters.slice(this.#head);
    this.#reset();
    for (const waiter of waiters) waiter?.reject(err);
    this.#notifyIdle();
  }

  /**
   * Rejects every item with `err`: those waiting, and those in batches the
   * handler has not settled yet (a driver that ignores its abort signal must
   * not leave a caller waiting for ever). A batch that settles later changes
   * nothing for its callers.
   */
  failAll(err: unknown): void {
    for (const batch of this.#inFlight) for (const waiter of batch.waiters) waiter?.reject(err);
    this.#inFlight.clear();
    this.failPending(err);
  }

  #reset(): void {
    this.#items = [];
    this.#waiters = [];
    this.#head = 0;
    this.#signaled = 0;
  }

  #schedule(noWait: boolean): void {
    const { lingerMs, maxItems } = this.#options;
    if (this.#scheduled) {
      // A full batch does not wait out the linger, nor the end of the turn.
      if ((this.#lingerTimer || this.#turnEnd) && this.pending >= maxItems) this.#fire();
      return;
    }
    if (noWait && lingerMs === 0) {
      // Nobody waits for a no-wait item (an ack): it gathers with the others until the event loop's
      // turn ends, or a batch is full. At the end of the microtasks instead, a consumer that acks
      // one message per few microtasks (`for await` on a buffer that is never empty) sent each ack
      // in a batch of its own: a driver call, a retry wrapper and a promise chain per message.
      if (this.pending >= maxItems) {
        this.#startBatches();
        return;
      }
      this.#scheduled = true;
      this.#turnEnd = setImmediate(this.#fireLater);
      return;
    }
    if (lingerMs === 0 && this.#running === 0 && this.pending === 1) {
      // Nothing in flight and nothing else waiting (an awaited send, say): it goes now, not a
      // microtask later, which under real I/O costs microseconds per send. The rest of a burst
      // still waits for the end of the tick and travels together.
      this.#startBatches();
      return;
    }
    this.#scheduled = true;
    if (lingerMs > 0 && this.pending < maxItems) {
      this.#lingerTimer = setTimeout(this.#fireLater, lingerMs);
    } else {
      afterMicrotasks(this.#fireLater);
    }
  }

  #fire(): void {
    this.#scheduled = false;
    if (this.#turnEnd) {
      clearImmediate(this.#turnEnd);
      this.#turnEnd = undefined;
    }
    if (this.#lingerTimer) {
      clearTimeout(this.#lingerTimer);
      this.#lingerTimer = undefined;
    }
    this.#startBatches();
  }

  #startBatches(): void {
    while (this.#running < this.#options.maxConcurrency && this.pending > 0) {
      const batch = this.#takeBatch();
      if (batch.items.length === 0) continue;
      this.#running++;
      this.#run(batch);
    }
    this.#notifyIdle();
  }

  /**
   * Cuts the next batch from the front of what is pending. Its arrays are
   * slices, or, when it takes everything, the pending arrays themselves:
   * built one push at a time, as before, they were a good part of what a
   * message cost the collector on a fast driver.
   */
  #takeBatch(): Taken<T> {
    const { maxItems, maxBytes } = this.#options;
    const start = this.#head;
    let end = Math.min(this.#items.length, start + maxItems);
    if (maxBytes !== Number.POSITIVE_INFINITY) {
      let bytes = this.#sizeOf(this.#items[start] as T);
      for (let i = start + 1; i < end; i++) {
        bytes += this.#sizeOf(this.#items[i] as T);
        if (bytes > maxBytes) {
          end = i;
          break;
        }
      }
    }
    const signaled = this.#signaled;
    let items: T[];
    let waiters: (Waiter | undefined)[];
    if (start === 0 && end === this.#items.length) {
      items = this.#items;
      waiters = this.#waiters;
      this.#reset();
    } else {
      items = this.#items.slice(start, end);
      waiters = this.#waiters.slice(start, end);
      this.#head = end;
      if (this.#head === this.#items.length) this.#reset();
      else {
        if (signaled > 0) this.#signaled -= waiters.filter((w) => w?.signal !== undefined).length;
        this.#compact();
      }
    }
    return signaled === 0 ? { items, waiters } : withoutCanceled({ items, waiters });
  }

  /** Drops the taken slots at the head once they are many and half the arrays. */
  #compact(): void {
    if (this.#head > 4096 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#waiters = this.#waiters.slice(this.#head);
      this.#head = 0;
    }
  }

  #run(batch: Taken<T>): void {
    this.#inFlight.add(batch);
    let result: Promise<void>;
    try {
      result = this.#handler(batch.items);
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      () => this.#finish(batch, undefined),
      (err: unknown) => this.#finish(batch, err ?? new Error("batch failed")),
    );
  }

  #finish(batch: Taken<T>, err: unknown): void {
    this.#running--;
    this.#inFlight.delete(batch);
    let reported = false;
    for (const waiter of batch.waiters) {
      if (err === undefined) waiter?.resolve();
      else if (waiter) waiter.reject(err);
      else if (!reported) {
        // No-wait items have no one to tell but onError, once per failed batch.
        reported = true;
        this.#onError(err);
      }
    }
    // A backlog that built up while every slot was busy goes out at once, without lingering; no-wait
    // items waiting for the end of the turn keep waiting (or for a full batch): started here, they
    // went two at a time behind a consumer faster than the batch's round trip.
    if (this.pending > 0 && this.#turnEnd === undefined) this.#startBatches();
    else this.#notifyIdle();
  }

  #notifyIdle(): void {
    if (this.#running > 0 || this.pending > 0 || this.#idleWaiters.length === 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/** `batch` without the items whose waiter's signal fired while they waited, each rejected with Canceled. */
function withoutCanceled<T>(batch: Taken<T>): Taken<T> {
  const { items, waiters } = batch;
  let canceled = false;
  for (const waiter of waiters) {
    if (waiter?.signal?.aborted) {
      canceled = true;
      waiter.reject(canceledError("send", waiter.signal));
    }
  }
  if (!canceled) return batch;
  const kept: Taken<T> = { items: [], waiters: [] };
  for (let i = 0; i < items.length; i++) {
    const waiter = waiters[i];
    if (waiter?.signal?.aborted) continue;
    kept.items.push(items[i] as T);
    kept.waiters.push(waiter);
  }
  return kept;
}

/** Batching of sends. Each limit is further capped by the driver's own. */
export interface SendBatching {
  /** Most messages in one batch. Default 1000. */
  maxBatchSize?: number;
  /** Most body bytes in one batch. Default 4 MiB. */
  maxBatchBytes?: number;
  /** Most batches in flight at once. Default 8. */
  maxConcurrentBatches?: number;
  /** How long a batch that is not full may wait for more messages, in ms. Default 0: the end of the current tick. */
  lingerMs?: number;
}

/** The batcher options for user settings `user`, capped by the driver's limits, with `defaults` for what neither sets. */
export function batcherOptions(
  user: SendBatching | undefined,
  driver: { maxItems?: number; maxBytes?: number; maxConcurrency?: number } | undefined,
  defaults: BatcherOptions,
): BatcherOptions {
  const cap = (value: number | undefined, limit: number | undefined, fallback: number) =>
    Math.max(1, Math.min(value ?? fallback, limit ?? Number.POSITIVE_INFINITY));
  return {
    maxItems: cap(user?.maxBatchSize, driver?.maxItems, defaults.maxItems),
    maxBytes: cap(user?.maxBatchBytes, driver?.maxBytes, defaults.maxBytes),
    maxConcurrency: cap(user?.maxConcurrentBatches, driver?.maxConcurrency, defaults.maxConcurrency),
    lingerMs: Math.max(0, user?.lingerMs ?? defaults.lingerMs),
  };
}

/**
 * The idempotent consumer: a Subscription's `idempotency` option. Between
 * the receive buffer and the application, it claims each received batch's
 * ids in one store round trip, hands out only the messages it claimed, acks
 * duplicates of done ids without handing them out, and postpones those
 * another consumer is handling; a handed-out message's ack first marks its
 * id done (in batches, like acks), its failure first releases the claim.
 */
import { Batcher, type BatcherOptions, batcherOptions } from "../driver/batcher.js";
import type { DriverMessage } from "../driver/driver.js";
import { HeldLeases } from "../driver/held-leases.js";
import type { ClaimOutcome, IdempotencyStore } from "../driver/idempotency.js";
import { type RetryOptions, withRetry } from "../driver/retry.js";
import { ErrorCode, PubSubError, redactUrl } from "../errors.js";
import { type AckSink, type Message, receivedId, sourceOf } from "../message.js";
import type { Instruments } from "../telemetry/instruments.js";
import { type Logger, writeLog } from "../telemetry/logger.js";
import { ClaimedIds } from "./claims.js";
import type { AckBatching } from "./settlement.js";

/** A Subscription's `idempotency` option: run each message id's handler once, through redeliveries and duplicates. */
export interface IdempotencyOptions {
  /**
   * Where claims and done-marks are kept, shared by every consumer that
   * must not run a handler twice for one id: `memoryIdempotencyStore()` (this
   * process only), `redisIdempotencyStore()` from driver-redis,
   * `pgIdempotencyStore()` from driver-postgres (which gives `process`
   * handlers `ctx.tx`), or your own `IdempotencyStore`. The Subscription
   * does not close it.
   */
  // biome-ignore lint/suspicious/noExplicitAny: any store, whatever its transaction type.
  store: IdempotencyStore<any>;
  /**
   * How long an id stays done after its handler succeeded, in ms: a copy
   * that arrives within it is acked without its handler; one that arrives
   * later runs its handler again. Default 86,400,000 (24 hours).
   */
  windowMs?: number;
  /**
   * How long a claim holds an id, in ms, unless extended. While a handler
   * runs, its claim is extended every half of this, where the store can
   * (`extend`: the memory, Redis and PostgreSQL stores can), so a handler may
   * run longer than this. It bounds how long a consumer that died in a
   * handler holds its ids: their redeliveries wait (postponed) until it
   * expires, then run. With a store that cannot extend, a handler that runs
   * longer than this may run a second time elsewhere. Default 300,000 (5
   * minutes).
   */
  leaseMs?: number;
}

/** The second argument of a `process` handler. */
export interface ProcessContext {
  /**
   * With a transactional idempotency store (`pgIdempotencyStore`), the
   * transaction the store opened for this message (a pg client), in which the
   * message's done-mark is written too: the handler's writes in it commit
   * together with "done", or not at all. Undefined otherwise. Typed
   * `unknown`; `transactionOf(ctx, store)` gives it the store's type.
   */
  readonly tx: unknown;
}

/**
 * `ctx.tx`, typed as `store`'s transaction. Throws FailedPrecondition where
 * there is none: the Subscription has no `idempotency`, its store is not
 * transactional, or the handler is not running under `process`.
 */
export function transactionOf<Tx>(ctx: ProcessContext, _store: IdempotencyStore<Tx>): Tx {
  if (ctx?.tx === undefined) {
    throw new PubSubError(
      ErrorCode.FailedPrecondition,
      "process: ctx.tx is undefined: it exists only in a process() handler of a Subscription opened with idempotency: { store } of a transactional store (pgIdempotencyStore)",
    );
  }
  return ctx.tx as Tx;
}

/** The context of a handler without a transaction. */
export const NO_TRANSACTION: ProcessContext = Object.freeze({ tx: undefined });

export const DEFAULT_WINDOW_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_LEASE_MS = 5 * 60 * 1000;
/** How long a duplicate whose id another consumer handles first waits, doubling per delivery up to the lease. */
const RUNNING_RECHECK_MS = 1000;
const MAX_RECHECK_MS = 30_000;
/** Attempts at one store call before its failure is logged and worked around. */
const STORE_ATTEMPTS = 5;

const BATCH_DEFAULTS: BatcherOptions = {
  maxItems: 1000,
  maxBytes: Number.POSITIVE_INFINITY,
  maxConcurrency: 4,
  lingerMs: 0,
};

/** What an IdempotentConsumer borrows from its Subscription. */
export interface IdempotencyHost {
  /** The Subscription's own settling: acks, failures, postponements, hand-backs. */
  readonly sink: AckSink;
  postpone(message: DriverMessage, delayMs: number): void;
  returnUnhanded(messages: DriverMessage[]): void;
  readonly instruments: Instruments;
  readonly resource: string;
  readonly logger: Logger | undefined;
  readonly retry: Required<RetryOptions>;
  /** Work that shutdown must wait for. */
  track(work: Promise<void>): void;
  /** True once the Subscription is shut down. */
  closed(): boolean;
}

interface Failure {
  message: DriverMessage;
  error: unknown;
  delayMs: number | undefined;
}

/** The id a message is deduplicated by (see `receivedId`); undefined when it has none. */
function idOf(message: DriverMessage): string | undefined {
  return receivedId(message) || undefined;
}

/** One Subscription's idempotent consumer; see the file's comment. */
export class IdempotentConsumer {
  /** Where the Subscription's Messages ack and fail: through the store first. */
  readonly sink: AckSink;
  readonly #store: IdempotencyStore<unknown>;
  readonly #host: IdempotencyHost;
  readonly #owner = `${Date.now().toString(36)}-${crypto.randomUUID()}`;
  readonly #windowMs: number;
  readonly #leaseMs: number;
  /** Messages handed out under a claim of ours, and the id claimed; their leases kept where the store can. */
  readonly #claimed: ClaimedIds;
  readonly #leases: HeldLeases<DriverMessage> | undefined;
  readonly #completes: Batcher<DriverMessage>;
  readonly #releases: Batcher<Failure>;
  /** Releases of messages handed back unhandled, which `flush` waits for. */
  readonly #handBacks = new Set<Promise<void>>();
  /** Never fires: store calls are bounded by STORE_ATTEMPTS, and shutdown waits for them. */
  readonly #never = new AbortController().signal;

  constructor(options: IdempotencyOptions, ackBatching: AckBatching | undefined, host: IdempotencyHost) {
    this.#store = options.store;
    this.#host = host;
    this.#windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
    this.#leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.#leases = this.#keepLeases(this.#store);
    this.#claimed = new ClaimedIds(this.#leases);
    const batching = batcherOptions(ackBatching, undefined, BATCH_DEFAULTS);
    this.#completes = new Batcher((messages) => this.#complete(messages), batching);
    this.#releases = new Batcher((failures) => this.#release(failures), batching);
    const sink = host.sink;
    this.sink = {
      canNack: sink.canNack,
      get contextKeys() {
        return sink.contextKeys;
      },
      ack: (message) => {
        if (this.#claimed.has(message)) this.#completes.addNoWait(message);
        else sink.ack(message);
      },
      fail: (message, error, delayMs) => {
        if (this.#claimed.has(message)) this.#releases.addNoWait({ message, error, delayMs });
        else sink.fail(message, error, delayMs);
      },
    };
  }

  /**
   * Claims the ids of an admitted batch in one round trip and returns the
   * messages to hand out: those claimed, and those without an id. Acks
   * duplicates of done ids; postpones those claimed elsewhere. Never
   * rejects: a store that keeps failing postpones the whole batch.
   */
  async admit(admitted: DriverMessage[] | Promise<DriverMessage[]>): Promise<DriverMessage[]> {
    const messages = await admitted;
    if (messages.length === 0) return messages;
    const ids: string[] = [];
    const claimable: DriverMessage[] = [];
    const out: DriverMessage[] = [];
    for (const message of messages) {
      const id = idOf(message);
      if (id === undefined) out.push(message);
      else {
        ids.push(id);
        claimable.push(message);
      }
    }
    if (ids.length === 0) return out;
    let outcomes: ClaimOutcome[];
    try {
      outcomes = await this.#call("claim", () =>
        this.#store.claim(ids, { owner: this.#owner, leaseMs: this.#leaseMs, windowMs: this.#windowMs }),
      );
      if (!Array.isArray(outcomes) || outcomes.length !== ids.length) {
        throw new Error(`the store returned ${describeOutcomes(outcomes)} for ${ids.length} ids`);
      }
    } catch (err) {
      // Given back unclaimed: at shutdown, the receive buffer hands them back; else they come back later.
      if (this.#host.closed()) return messages;
      this.#warn("error", "pubsub.idempotency_failed", `claim ${ids.length} message ids`, err, "postponed");
      for (const message of claimable) this.#host.postpone(message, this.#recheckDelay(message));
      return out;
    }
    const duplicates: string[] = [];
    for (let i = 0; i < claimable.length; i++) {
      const message = claimable[i] as DriverMessage;
      const outcome = outcomes[i];
      if (outcome === "claimed") {
        this.#claimed.set(message, ids[i] as string);
        out.push(message);
      } else if (outcome === "done") {
        this.#host.sink.ack(message);
        duplicates.push(ids[i] as string);
      } else {
        this.#host.postpone(message, this.#recheckDelay(message));
      }
    }
    if (duplicates.length > 0) this.#duplicates(duplicates);
    return out;
  }

  /** Releases our claims on messages handed back unhandled, then hands them back. */
  returnUnhanded(messages: DriverMessage[]): void {
    const ids: string[] = [];
    for (const message of messages) {
      const id = this.#claimed.get(message);
      if (id === undefined) continue;
      this.#claimed.delete(message);
      ids.push(id);
    }
    if (ids.length > 0) {
      // Before the hand-back, so that the next consumer finds them free; shutdown waits for it.
      const released = this.#call("release", () => this.#store.release(ids, { owner: this.#owner })).then(
        () => this.#host.returnUnhanded(messages),
        (err: unknown) => {
          this.#warn(
            "warn",
            "pubsub.idempotency_failed",
            `release ${ids.length} message ids`,
            err,
            "left to their lease",
          );
          this.#host.returnUnhanded(messages);
        },
      );
      this.#host.track(released);
      this.#handBacks.add(released);
      released.finally(() => this.#handBacks.delete(released));
    } else this.#host.returnUnhanded(messages);
  }

  /**
   * How `process` calls `handler` on `message`: with a transactional store
   * and a message we claimed, inside the store's transaction, which writes
   * the done-mark too (the ack then goes straight to the broker); else as
   * it is, with no transaction.
   */
  run(handler: (message: Message, ctx: ProcessContext) => unknown, message: Message): unknown {
    const store = this.#store;
    const source = sourceOf(message);
    const id = this.#claimed.get(source);
    if (!store.runInTransaction || id === undefined) return handler(message, NO_TRANSACTION);
    return store
      .runInTransaction(id, { owner: this.#owner, windowMs: this.#windowMs }, async (tx) => {
        await handler(message, { tx });
      })
      .then((outcome) => {
        this.#claimed.delete(source);
        if (outcome === "duplicate") this.#duplicates([id]);
      });
  }

  /** Resolves once every pending done-mark and release was written and its ack or failure passed on. */
  async flush(): Promise<void> {
    await Promise.all([this.#completes.flush(), this.#releases.flush(), ...this.#handBacks]);
  }

  /** Stops extending leases: the Subscription is shut down, every claim settled or handed back. */
  stop(): void {
    this.#leases?.stop();
  }

  /** Marks a batch done, then acks it; a store that keeps failing is logged and the batch acked all the same. */
  async #complete(messages: DriverMessage[]): Promise<void> {
    const ids = messages.map((message) => this.#claimed.get(message) as string);
    try {
      await this.#call("complete", () => this.#store.complete(ids, { owner: this.#owner, windowMs: this.#windowMs }));
    } catch (err) {
      // The handler succeeded: acking loses nothing; only a copy arriving within the window could run again.
      this.#warn(
        "warn",
        "pubsub.idempotency_failed",
        `mark ${ids.length} message ids done`,
        err,
        "acked without a done-mark",
      );
    }
    const sink = this.#host.sink;
    for (const message of messages) {
      this.#claimed.delete(message);
      sink.ack(message);
    }
  }

  /** Releases a batch's claims, then lets each message fail as it would without idempotency. */
  async #release(failures: Failure[]): Promise<void> {
    const ids = failures.map((failure) => this.#claimed.get(failure.message) as string);
    try {
      await this.#call("release", () => this.#store.release(ids, { owner: this.#owner }));
    } catch (err) {
      // Their redeliveries are postponed until the claims' lease expires, then run: nothing is lost.
      this.#warn("warn", "pubsub.idempotency_failed", `release ${ids.length} message ids`, err, "left to their lease");
    }
    const sink = this.#host.sink;
    for (const { message, error, delayMs } of failures) {
      this.#claimed.delete(message);
      sink.fail(message, error, delayMs);
    }
  }

  /**
   * The keeper of our claims' leases while their handlers run, for a store
   * that can extend them: each held claim is extended every half lease.
   */
  #keepLeases(store: IdempotencyStore<unknown>): HeldLeases<DriverMessage> | undefined {
    if (typeof store.extend !== "function") return undefined;
    const o = { owner: this.#owner, leaseMs: this.#leaseMs };
    return new HeldLeases<DriverMessage>({
      leaseMs: () => this.#leaseMs,
      extend: (messages) => {
        const ids = messages.map((message) => this.#claimed.get(message) as string);
        return this.#call("extend", () => store.extend?.(ids, o) ?? Promise.resolve());
      },
      onError: (err) =>
        this.#warn(
          "warn",
          "pubsub.idempotency_failed",
          "extend the leases of claimed message ids",
          err,
          "a handler that outlives its lease may run again elsewhere",
        ),
    });
  }

  #call<T>(operation: string, attempt: () => Promise<T>): Promise<T> {
    const retry = { ...this.#host.retry, maxAttempts: Math.min(this.#host.retry.maxAttempts, STORE_ATTEMPTS) };
    return withRetry(attempt, () => true, retry, this.#never, operation);
  }

  /** When a message whose id is claimed elsewhere comes back to look again: doubling per delivery, within the lease. */
  #recheckDelay(message: DriverMessage): number {
    const deliveries = Math.min(Math.max((message.deliveryAttempt ?? 1) - 1, 0), 10);
    return Math.min(RUNNING_RECHECK_MS * 2 ** deliveries, MAX_RECHECK_MS, this.#leaseMs);
  }

  #duplicates(ids: string[]): void {
    this.#host.instruments.duplicates(ids.length);
    const resource = this.#host.resource;
    for (const id of ids) {
      writeLog(this.#host.logger, "info", {
        event: "pubsub.duplicate",
        resource,
        message: `${resource}: message ${id} acked without its handler: its id was done already`,
        messageId: id,
      });
    }
  }

  #warn(level: "warn" | "error", event: string, what: string, err: unknown, outcome: string): void {
    const error = redactUrl(err instanceof Error ? err.message : String(err));
    const resource = this.#host.resource;
    writeLog(this.#host.logger, level, {
      event,
      resource,
      message: `${resource}: the idempotency store could not ${what} (${error}); ${outcome}`,
      error,
    });
  }
}

function describeOutcomes(outcomes: unknown): string {
  return Array.isArray(outcomes) ? `${outcomes.length} outcomes` : typeof outcomes;
}

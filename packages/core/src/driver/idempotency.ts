/**
 * The idempotency store contract: where an idempotent Subscription (the
 * `idempotency` option) records which message ids are being handled and
 * which are done. Core ships `memoryIdempotencyStore`; driver-redis and
 * driver-postgres ship stores of their own; anyone may write another
 * (DynamoDB, MariaDB) against this interface and check it with the
 * conformance package's `idempotencyStoreSuite`.
 *
 * An id is in one of three states in a store: free (never seen, released,
 * or its lease or window expired), claimed by an owner until its lease
 * expires, or done until its window expires. The portable layer claims the
 * ids of each received batch before any handler runs, marks an id done after
 * its handler succeeded (and only then acks the message), and releases it
 * when the handler failed, so that the redelivery runs the handler again.
 */

/**
 * What `claim` found for one id:
 * - `claimed`: the id was free and is now claimed by the caller: run the handler;
 * - `running`: another claim (of any owner, the caller's included) holds a live lease: the message is handled elsewhere;
 * - `done`: the id was completed within its window: the message is a duplicate.
 */
export type ClaimOutcome = "claimed" | "running" | "done";

/** Options of {@link IdempotencyStore.claim}. */
export interface ClaimOptions {
  /** Who claims: an opaque token, unique to one Subscription in one process. */
  readonly owner: string;
  /** How long the claim holds, in ms, if neither completed nor released: after it, the id is free again. */
  readonly leaseMs: number;
  /** How long a done-mark lasts, in ms (stores that complete inside `claim`, none today, would need it). */
  readonly windowMs: number;
}

/** Options of {@link IdempotencyStore.complete}. */
export interface CompleteOptions {
  /** The owner that claimed the ids. */
  readonly owner: string;
  /** How long each done-mark lasts, in ms: a copy that arrives later runs its handler again. */
  readonly windowMs: number;
}

/** Options of {@link IdempotencyStore.extend}. */
export interface ExtendOptions {
  /** The owner that claimed the ids. */
  readonly owner: string;
  /** The new lease, in ms from now. */
  readonly leaseMs: number;
}

/** Options of {@link IdempotencyStore.release}. */
export interface ReleaseOptions {
  /** The owner that claimed the ids. */
  readonly owner: string;
}

/**
 * A store of claims and done-marks by message id, shared by every consumer
 * that must not run a handler twice for one id. `Tx` is the transaction a
 * transactional store hands a handler as `ctx.tx` (a pg client in a
 * transaction); `never` for stores without `runInTransaction`.
 *
 * Every method takes a batch and must cost one round trip to the store
 * for the whole batch, not one per id: the portable layer claims all ids of
 * a received batch at once, and completes and releases in batches as it
 * batches acks. Ids are non-empty strings of at most a few hundred
 * characters, chosen by applications (business keys) or assigned at send.
 * Methods reject with the store's own errors (the portable layer retries
 * them and logs what remains); their messages must not contain credentials.
 */
export interface IdempotencyStore<Tx = never> {
  /**
   * Claims each of `ids` for `o.owner` with a lease of `o.leaseMs`, in one
   * round trip, and returns one outcome per id, in the order of `ids`:
   * `claimed` where the id was free (now claimed by `o.owner`), `running`
   * where a claim with a live lease holds it (whoever owns it), `done` where
   * it was completed less than its window ago. A claim whose lease expired
   * is free: a process that died in a handler must not hold its ids for
   * ever. An id that appears twice in `ids` must be claimed at most once:
   * its later copies are `running`. The check and the claim of one id must
   * be atomic against every other caller of the same store (SET NX, an
   * INSERT … ON CONFLICT, a conditional write): two consumers that claim one
   * id at once must not both get `claimed`. It should return promptly when
   * `signal` fires, rejecting.
   */
  claim(ids: readonly string[], o: ClaimOptions, signal?: AbortSignal): Promise<ClaimOutcome[]>;
  /**
   * Marks each of `ids` done for `o.windowMs`, in one round trip, whoever
   * holds it: `o.owner`'s handler succeeded, so the effect happened, even
   * where its lease ended and another owner claimed the id since (that
   * owner's `release` must then leave the done-mark, and the redelivery is
   * a duplicate). A plain write, with no read of what holds the id, is
   * enough. Returns only after the marks are durable as far as the store
   * makes anything durable: the portable layer acks the messages after it.
   */
  complete(ids: readonly string[], o: CompleteOptions): Promise<void>;
  /**
   * Frees each of `ids` that `o.owner` holds a claim on (its handler failed,
   * or the message is handed back unhandled at shutdown), in one round trip,
   * so that the message's redelivery runs the handler again. Ids claimed by
   * another owner, or done, are left as they are.
   */
  release(ids: readonly string[], o: ReleaseOptions): Promise<void>;
  /**
   * Optional, and every store should have it. Extends, to `o.leaseMs` from
   * now, the lease of each of `ids` that `o.owner` still holds a live claim
   * on, in one round trip; ids done, free, expired or claimed by another
   * owner are left as they are. The portable layer calls it for the claims
   * whose handlers still run, every half lease, so that a lease
   * bounds how long a consumer that died holds its ids, not how long a
   * handler may run. Without it, a handler that runs past its lease may run a
   * second time elsewhere.
   */
  extend?(ids: readonly string[], o: ExtendOptions): Promise<void>;
  /**
   * Transactional stores only (PostgreSQL). Runs `work` in a transaction of
   * the store's database, and writes `id`'s done-mark in the same
   * transaction, so that the handler's writes and the done-mark commit
   * together or not at all. `process` calls it, instead of `complete`, for
   * a message whose id `o.owner` claimed, and hands `work`'s `tx` to the
   * handler as `ctx.tx`. Returns `completed` once the transaction committed;
   * `duplicate`, with the transaction rolled back, where another owner had
   * completed the id (its effects are in the database already). Rejects,
   * with the transaction rolled back, with what `work` threw or what the
   * commit threw; the portable layer then releases the claim and the message
   * takes the failure path.
   */
  runInTransaction?(
    id: string,
    o: CompleteOptions,
    work: (tx: Tx) => Promise<void>,
  ): Promise<"completed" | "duplicate">;
  /**
   * Releases what the store opened itself (a connection pool, a client made
   * from a URL), never a client the application passed in. Optional. The
   * application calls it, after the subscriptions that use the store were
   * shut down: a store may be shared by several subscriptions.
   */
  close?(): Promise<void>;
}

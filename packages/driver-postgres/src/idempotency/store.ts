/**
 * `pgIdempotencyStore`: the idempotency store on a PostgreSQL table, and
 * the inbox. A batch's claims, done-marks and releases are one statement
 * each; `runInTransaction` runs a handler in a transaction on a connection
 * of its own and writes the done-mark in it, so that the handler's writes
 * and "done" commit together or not at all. Expired rows are pruned in the
 * background, a bounded batch at a time.
 */
import {
  type ClaimOptions,
  type ClaimOutcome,
  type CompleteOptions,
  ErrorCode,
  type ExtendOptions,
  type IdempotencyStore,
  invalidArgument,
  PubSubError,
  type ReleaseOptions,
  raceSignal,
  toPubSubError,
} from "@portable-pubsub/core/driver";
import type pg from "pg";
import { CONNECT_TIMEOUT_MS, type ConnectingQueryable, poolConfig, quietPool } from "../connection.js";
import { checkSchemaName, DEFAULT_SCHEMA } from "../declare.js";
import { pgErrors } from "../errors.js";
import { resolveServer } from "../server.js";
import { runInTransaction } from "./in-transaction.js";
import {
  checkTableName,
  createTableIfMissing,
  DEFAULT_IDEMPOTENCY_TABLE,
  findTable,
  type IdempotencyStatements,
  statements,
} from "./table.js";

/** Expired rows one pruning statement deletes at most. */
export const PRUNE_LIMIT = 1000;
/** How often a store prunes (at most), unless told otherwise. */
export const DEFAULT_PRUNE_INTERVAL_MS = 60_000;

/** Options of {@link pgIdempotencyStore}. */
export interface PgIdempotencyStoreOptions {
  /** postgres://… of the database; default DATABASE_URL, else libpq's PG* variables. */
  serverUrl?: string;
  /**
   * Your `pg.Pool`, used instead of a pool of the store's (never ended by
   * it). Each handler in `runInTransaction` holds one of its connections
   * while it runs, and claims take one more: size it above the
   * subscription's concurrency.
   */
  pool?: ConnectingQueryable;
  /** Connections of the store's own pool. Default 10; more than the subscription's concurrency, for the inbox. */
  poolSize?: number;
  /** The schema of the table. Default "pubsub", the driver's. */
  schema?: string;
  /** The table's name. Default "idempotency". */
  table?: string;
  /** Create the table (and the schema) on first use when missing. Default true; false: NotFound when missing. */
  declare?: boolean;
  /** How often, at most, a claim starts pruning rows whose window or lease ended. Default 60 s. */
  pruneIntervalMs?: number;
}

/**
 * An idempotency store on a PostgreSQL table, for the subscription option
 * `idempotency: { store }`. With it, `process(async (msg, ctx) => …)`
 * gets `ctx.tx`: a pool client in a transaction that also writes the
 * message id's done-mark, so the handler's writes happen exactly once.
 */
export interface PgIdempotencyStore extends IdempotencyStore<pg.PoolClient> {
  /**
   * Runs `work` in a transaction on a connection of the store's pool and
   * writes `id`'s done-mark in it. Returns "completed" once committed;
   * "duplicate" when another run had marked `id` done first (this one is
   * rolled back, its writes with it). When `work` throws, rolls back and
   * rethrows its error as it is. `work` must not commit or roll back `tx`.
   */
  runInTransaction(
    id: string,
    o: CompleteOptions,
    work: (tx: pg.PoolClient) => Promise<void>,
  ): Promise<"completed" | "duplicate">;
  /** Deletes up to `limit` rows whose window or lease ended (default 1,000); returns how many. */
  prune(limit?: number): Promise<number>;
  /** Waits for a pruning in flight and ends the store's own pool (never yours). */
  close(): Promise<void>;
}

/**
 * The store on table `table` (default "idempotency") of `schema` (default
 * "pubsub"). Connects on first use, creating the table then unless
 * `declare` is false. Never throws for the database being unreachable
 * here; its methods fail with PubSubErrors that name the table and the
 * server, never a password.
 */
export function pgIdempotencyStore(options: PgIdempotencyStoreOptions = {}): PgIdempotencyStore {
  return new PgStore(options);
}

function checkOptions(options: PgIdempotencyStoreOptions): void {
  if (options.pool !== undefined) {
    if (typeof (options.pool as Partial<ConnectingQueryable>).connect !== "function") {
      throw invalidArgument(
        "pgIdempotencyStore: pool must be a pg.Pool (each handler's transaction takes a connection of its own); give serverUrl to let the store open its own",
      );
    }
    if (options.serverUrl !== undefined || options.poolSize !== undefined) {
      throw invalidArgument(
        "pgIdempotencyStore: the pool option replaces serverUrl and poolSize; give one or the other",
      );
    }
  }
  for (const name of ["poolSize", "pruneIntervalMs"] as const) {
    const value = options[name];
    if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
      throw invalidArgument(`pgIdempotencyStore: ${name} must be a whole number above 0, got ${String(value)}`);
    }
  }
}

class PgStore implements PgIdempotencyStore {
  readonly #pool: ConnectingQueryable;
  readonly #ownPool: pg.Pool | undefined;
  readonly #resource: string;
  readonly #sql: IdempotencyStatements;
  readonly #prepare: () => Promise<void>;
  readonly #pruneIntervalMs: number;
  #ready: Promise<void> | undefined;
  /** The first pruning waits for an interval of the store's life, as every later one does. */
  #lastPrune = Date.now();
  #pruning: Promise<unknown> = Promise.resolve();
  #closed: Promise<void> | undefined;

  constructor(options: PgIdempotencyStoreOptions) {
    checkOptions(options);
    const schema = checkSchemaName(options.schema ?? DEFAULT_SCHEMA);
    const table = checkTableName(options.table ?? DEFAULT_IDEMPOTENCY_TABLE);
    let display = "the application's pool";
    if (options.pool) {
      this.#pool = options.pool;
    } else {
      const server = resolveServer(options.serverUrl);
      display = server.display;
      this.#ownPool = quietPool({ ...poolConfig(server, options.poolSize), application_name: "portable-pubsub inbox" });
      this.#pool = this.#ownPool;
    }
    this.#resource = `pg idempotency table ${schema}.${table} on ${display}`;
    this.#sql = statements(schema, table);
    this.#prepare =
      options.declare === false
        ? () => findTable(this.#pool, schema, table)
        : () => createTableIfMissing(this.#pool, schema, table);
    this.#pruneIntervalMs = options.pruneIntervalMs ?? DEFAULT_PRUNE_INTERVAL_MS;
  }

  async claim(ids: readonly string[], options: ClaimOptions, signal?: AbortSignal): Promise<ClaimOutcome[]> {
    if (ids.length === 0) return [];
    const { rows } = await raceSignal(
      this.#query("claim ids in", this.#sql.claim, [ids, options.owner, Math.ceil(options.leaseMs)]),
      signal,
      `claim ids in ${this.#resource}`,
    );
    this.#pruneNowAndThen();
    const found = new Map(rows.map((row) => [row.id as string, row.status as ClaimOutcome]));
    // An id twice in one batch is claimed once: its second copy waits as any duplicate of a running id does.
    const seen = new Set<string>();
    return ids.map((id) => {
      const status = found.get(id) ?? "running";
      if (seen.has(id)) return status === "claimed" ? "running" : status;
      seen.add(id);
      return status;
    });
  }

  async complete(ids: readonly string[], options: CompleteOptions): Promise<void> {
    if (ids.length === 0) return;
    await this.#query("mark ids done in", this.#sql.complete, [ids, options.owner, Math.ceil(options.windowMs)]);
  }

  async extend(ids: readonly string[], options: ExtendOptions): Promise<void> {
    if (ids.length === 0) return;
    await this.#query("extend the leases of ids in", this.#sql.extend, [
      ids,
      options.owner,
      Math.ceil(options.leaseMs),
    ]);
  }

  async release(ids: readonly string[], options: ReleaseOptions): Promise<void> {
    if (ids.length === 0) return;
    await this.#query("release ids in", this.#sql.release, [ids, options.owner]);
  }

  async runInTransaction(
    id: string,
    options: CompleteOptions,
    work: (tx: pg.PoolClient) => Promise<void>,
  ): Promise<"completed" | "duplicate"> {
    await this.#prepared("run a handler's transaction in");
    return runInTransaction(
      {
        pool: this.#pool,
        markDone: this.#sql.markDone,
        fail: (err, operation) => this.#error(err, operation),
      },
      [id, options.owner, Math.ceil(options.windowMs)],
      work,
    );
  }

  async prune(limit = PRUNE_LIMIT): Promise<number> {
    const { rowCount } = await this.#query("prune expired ids of", this.#sql.prune, [limit]);
    return rowCount ?? 0;
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.#pruning;
      await this.#ownPool?.end();
    })();
    return this.#closed;
  }

  /**
   * Starts a pruning in the background when the last one is older than the
   * interval, one at a time; a pruning that found a full batch lets the
   * next claim start another, so a backlog of expired rows drains in
   * bounded statements. Its failure is left for the next one to retry.
   */
  #pruneNowAndThen(): void {
    const now = Date.now();
    if (this.#closed || now - this.#lastPrune < this.#pruneIntervalMs) return;
    this.#lastPrune = now;
    this.#pruning = this.prune().then(
      (deleted) => {
        if (deleted >= PRUNE_LIMIT) this.#lastPrune = 0;
      },
      () => {},
    );
  }

  async #query(operation: string, text: string, values: unknown[]) {
    await this.#prepared(operation);
    try {
      return await this.#pool.query(text, values);
    } catch (err) {
      throw this.#error(err, operation);
    }
  }

  /** The table is there: found or created once per store; a failure is retried by the next call. */
  async #prepared(operation: string): Promise<void> {
    if (this.#closed) {
      throw new PubSubError(ErrorCode.FailedPrecondition, `${operation} ${this.#resource}: the store is closed`);
    }
    this.#ready ??= this.#prepare().catch((err: unknown) => {
      this.#ready = undefined;
      throw err;
    });
    try {
      await this.#ready;
    } catch (err) {
      throw this.#error(err, operation);
    }
  }

  #error(err: unknown, operation: string): Error {
    const pool = this.#ownPool;
    // pg-pool's wording when no connection came free within CONNECT_TIMEOUT_MS: with every connection of the
    // store's own pool checked out, that is handlers holding them all, not a database that is gone.
    if (
      pool !== undefined &&
      pool.totalCount >= pool.options.max &&
      pool.idleCount === 0 &&
      /timeout exceeded when trying to connect/.test((err as Error)?.message ?? "")
    ) {
      return new PubSubError(
        ErrorCode.ResourceExhausted,
        `${operation} ${this.#resource}: all ${pool.options.max} connections of the store's pool stayed busy for ${CONNECT_TIMEOUT_MS / 1000} s; give pgIdempotencyStore a poolSize above the concurrency of the subscriptions that share it (each running handler holds one)`,
        { cause: err },
      );
    }
    return toPubSubError({ resource: this.#resource, errors: pgErrors, close: async () => {} }, err, operation);
  }
}

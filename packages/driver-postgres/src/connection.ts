/**
 * The driver's way to the database: the statements of every topic and
 * subscription that share it, their connection health, and the LISTEN
 * connection that wakes receivers. A link is either the driver's own
 * (a `pg.Pool` per server settings, shared by everything opened by URL with
 * the same settings, and ended when the last user closes) or wraps the
 * application's pool or client, which it never ends.
 */
import { DEFAULT_CONNECT_TIMEOUT_MS, type DriverServer, HealthTracker } from "@portable-pubsub/core/driver";
import pg from "pg";
import { isConnectionLoss, pgErrors } from "./errors.js";
import { type ListenConnector, Listener } from "./listener.js";
import type { ServerSettings } from "./server.js";

/** How long one connection attempt may take before it fails (and the operation is retried). */
export const CONNECT_TIMEOUT_MS = 5000;
/** How long one statement may wait for its reply on the client side: a stalled connection fails, never hangs. */
export const QUERY_TIMEOUT_MS = 30_000;
/** Connections the driver's own pool opens at most, per server settings. */
export const DEFAULT_POOL_SIZE = 10;

/**
 * Anything that runs a statement with positional parameters: a `pg.Pool`, a
 * `pg.Client`, a pool client, or an ORM's transaction that exposes its pg
 * client. The driver calls only `query(text, values)`.
 */
export interface Queryable {
  /** Runs `text` with `$1`… bound to `values`; resolves with the rows. */
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[]; rowCount?: number | null }>;
}

/** A Queryable that can also lend a connection of its own (a `pg.Pool`): what LISTEN needs. */
export interface ConnectingQueryable extends Queryable {
  /** Checks a connection out; `release(err)` gives it back (with an error: destroys it). */
  connect(): Promise<pg.PoolClient>;
}

/** The node-postgres settings of the driver's own connections. */
export function poolConfig(server: ServerSettings, max = DEFAULT_POOL_SIZE): pg.PoolConfig {
  return {
    connectionString: server.connectionString,
    max,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    keepAlive: true,
    // A connection string's own application_name wins (node-postgres reads it over these settings).
    application_name: "portable-pubsub",
  };
}

/** Wakes receivers of one topic when a notification names it. */
type Waker = () => void;

/**
 * A pool of this package's own whose connections never emit an unhandled
 * 'error'. One that dies (pg_terminate_backend, a cut) reports it to the
 * statement running on it, or to none: idle, the pool drops it and the next
 * statement connects anew; checked out between statements, the next
 * statement on it fails. Either way the error is seen where it matters, and
 * a client with no listener would otherwise crash the process with it.
 */
export function quietPool(config: pg.PoolConfig): pg.Pool {
  const pool = new pg.Pool(config);
  pool.on("error", () => {});
  pool.on("connect", (client) => {
    client.on("error", () => {});
  });
  return pool;
}

export class PgLink implements Queryable {
  /** Queries and health reports go through here; never ended by the link when given by the application. */
  readonly db: Queryable;
  readonly health = new HealthTracker("connecting", pgErrors.errorCode);
  /** The server as messages name it (host:port/database), without credentials. */
  readonly display: string;
  readonly #connector: ListenConnector | undefined;
  readonly #end: (() => Promise<void>) | undefined;
  readonly #wakers = new Map<string, Set<Waker>>();
  #listener: Listener | undefined;
  #users = 0;
  #onLastClose: (() => void) | undefined;

  private constructor(
    db: Queryable,
    display: string,
    connector: ListenConnector | undefined,
    end?: () => Promise<void>,
  ) {
    this.db = db;
    this.display = display;
    this.#connector = connector;
    this.#end = end;
  }

  /** A link with a pool of its own, ended at the last `close`. */
  static own(server: ServerSettings, poolSize?: number): PgLink {
    const config = poolConfig(server, poolSize);
    const pool = quietPool(config);
    const connector: ListenConnector = {
      async connect() {
        const client = new pg.Client(config);
        client.on("error", () => {});
        await client.connect();
        return client;
      },
      disconnect: (client) => (client as pg.Client).end(),
    };
    return new PgLink(pool, server.display, connector, () => pool.end());
  }

  /**
   * The link over the application's `db`, one per `db` object (each user
   * calls `use`, then `close`), so that its topics and subscriptions share
   * one LISTEN connection. LISTEN takes that connection from `db` when it
   * can lend one (a `pg.Pool`), for as long as a user holds the link;
   * otherwise receivers poll. `db` itself is never ended.
   */
  static of(db: Queryable, display = "the application's pool"): PgLink {
    let link = applicationLinks.get(db);
    if (!link) {
      link = PgLink.#wrap(db, display);
      applicationLinks.set(db, link);
    }
    return link;
  }

  static #wrap(db: Queryable, display: string): PgLink {
    const lender =
      typeof (db as Partial<ConnectingQueryable>).connect === "function" ? (db as ConnectingQueryable) : undefined;
    const connector: ListenConnector | undefined = lender && {
      async connect() {
        const client = await lender.connect();
        client.on("error", () => {});
        return client;
      },
      async disconnect(client) {
        (client as pg.PoolClient).release(true);
      },
    };
    return new PgLink(db, display, connector);
  }

  /** Whether receivers can be woken by NOTIFY on this link. */
  get canListen(): boolean {
    return this.#connector !== undefined;
  }

  /** Counts one more user (a topic or subscription); `close` by each. */
  use(onLastClose?: () => void): this {
    this.#users++;
    if (onLastClose) this.#onLastClose = onLastClose;
    return this;
  }

  /** Runs one statement; a lost connection turns health to reconnecting, any answer to ready. */
  async query(text: string, values?: unknown[]) {
    try {
      const result = await this.db.query(text, values);
      this.health.set("ready", undefined, this.display);
      return result;
    } catch (err) {
      if (isConnectionLoss(err)) this.health.set("reconnecting", err as Error);
      else this.health.set("ready", undefined, this.display);
      throw err;
    }
  }

  /**
   * Calls `wake` whenever a NOTIFY names `topic` on `channel`, and after the
   * LISTEN connection is re-established; returns the function that stops it.
   * Without a connection to lend, it does nothing.
   */
  listen(channel: string, topic: string, wake: Waker): () => void {
    if (!this.#connector) return () => {};
    const key = `${channel}\u0000${topic}`;
    const set = this.#wakers.get(key) ?? new Set<Waker>();
    this.#wakers.set(key, set);
    set.add(wake);
    this.#listener ??= new Listener(
      this.#connector,
      (ch, payload) => this.#dispatch(ch, payload),
      (err) => (err ? this.health.set("reconnecting", err) : this.health.set("ready", undefined, this.display)),
    );
    this.#listener.add(channel);
    return () => {
      set.delete(wake);
      if (set.size === 0) this.#wakers.delete(key);
    };
  }

  #dispatch(channel: string | undefined, payload: string | undefined): void {
    if (channel === undefined) {
      for (const set of this.#wakers.values()) for (const wake of set) wake();
      return;
    }
    const set = this.#wakers.get(`${channel}\u0000${payload ?? ""}`);
    if (set) for (const wake of set) wake();
  }

  /** One user is done; the last one stops LISTEN and ends the link's own pool. */
  async close(): Promise<void> {
    if (--this.#users > 0) return;
    this.#onLastClose?.();
    const listener = this.#listener;
    this.#listener = undefined;
    await listener?.stop();
    if (this.#end) {
      this.health.set("closed");
      await this.#end();
    }
  }
}

/** The links over applications' pools and clients, one per object, kept while the object lives. */
const applicationLinks = new WeakMap<Queryable, PgLink>();

/** Links opened by URL, shared per server settings and pool size, as long as one user holds them. */
const shared = new Map<string, PgLink>();

/** The shared link to `server` (made on first use); each caller must `close` it once. */
export function sharedLink(server: ServerSettings, poolSize?: number): PgLink {
  const key = `${server.connectionString ?? `env:${server.display}`}\u0000${poolSize ?? ""}`;
  let link = shared.get(key);
  if (!link) {
    link = PgLink.own(server, poolSize);
    shared.set(key, link);
  }
  return link.use(() => shared.delete(key));
}

/** What core needs to bound a pg:// open and word its failure: the database, and how long `ready` may take. */
export function serverOf(link: PgLink, connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS): DriverServer {
  return { broker: "PostgreSQL", address: link.display, connectTimeoutMs };
}

import { invalidArgument } from "@portable-pubsub/core/driver";
import type pg from "pg";

/** The environment variable that names the database of `pg://` URLs when no `serverUrl` option is given. */
export const SERVER_URL_ENV = "DATABASE_URL";
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

/** Where the driver connects: the node-postgres settings, and how messages name the server. */
export interface ServerSettings {
  /** A connection string (`serverUrl` or DATABASE_URL); undefined: libpq's PG* variables, which pg reads itself. */
  readonly connectionString: string | undefined;
  /** `host:port/database`, never with a user name or password. */
  readonly display: string;
  readonly host: string;
  readonly port: number;
}

/**
 * Where `pg://` connects: the `serverUrl` option, else DATABASE_URL, else
 * what libpq's PGHOST, PGPORT, PGDATABASE, PGUSER and PGPASSWORD say
 * (node-postgres reads them; its defaults are localhost:5432). A server URL
 * that does not parse is InvalidArgument, without echoing it (it may hold a
 * password).
 */
export function resolveServer(serverUrl: string | undefined, env: NodeJS.ProcessEnv = process.env): ServerSettings {
  const connectionString = serverUrl ?? (env[SERVER_URL_ENV] || undefined);
  if (connectionString === undefined) {
    const host = env.PGHOST || "localhost";
    const port = Number(env.PGPORT || 5432);
    return { connectionString, host, port, display: `${host}:${port}/${env.PGDATABASE || env.PGUSER || "postgres"}` };
  }
  let url: URL;
  try {
    url = new URL(connectionString);
  } catch {
    throw invalidArgument(
      `pg: the server URL (${serverUrl === undefined ? SERVER_URL_ENV : "the serverUrl option"}) is not a URL; expected postgres://[user[:password]@]host[:port]/database, with "@", ":", "/" in a password percent-encoded`,
    );
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw invalidArgument(
      `pg: the server URL must start with postgres:// or postgresql://, not ${url.protocol}//; such as postgres://user@localhost:5432/app`,
    );
  }
  const host = decodeURIComponent(url.hostname) || env.PGHOST || "localhost";
  const port = Number(url.port || env.PGPORT || 5432);
  const database = decodeURIComponent(url.pathname.slice(1)) || env.PGDATABASE || "";
  return { connectionString, host, port, display: `${host}:${port}/${database}` };
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

/**
 * Where pg:// connects: the `serverUrl` option, DATABASE_URL or libpq's PG*
 * variables, and how messages name the server without credentials.
 */
import { invalidArgument } from "@portable-pubsub/core/driver";

/** The environment variable that names the database of `pg://` URLs when no `serverUrl` option is given. */
export const SERVER_URL_ENV = "DATABASE_URL";

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

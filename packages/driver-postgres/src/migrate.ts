/**
 * Migrating a database from outside an application (`pubsub pg migrate`):
 * connects with the given server URL (or DATABASE_URL, or PG*), creates what
 * is missing of the driver's tables, and says which version is in place.
 */
import { toPubSubError } from "@portable-pubsub/core/driver";
import pg from "pg";
import { CONNECT_TIMEOUT_MS } from "./connection.js";
import { checkSchemaName, DEFAULT_SCHEMA, migrate } from "./declare.js";
import { pgErrors } from "./errors.js";
import { resolveServer } from "./server.js";

/** What {@link migrateDatabase} did. */
export interface Migrated {
  /** The server, as `host:port/database`, without credentials. */
  server: string;
  schema: string;
  /** The schema version now in place. */
  version: number;
}

/**
 * Runs the package's migrations against the database `serverUrl` names
 * (default: DATABASE_URL, else libpq's PG* variables), in `schema` (default
 * "pubsub"). Idempotent; resolves once committed. Fails with a
 * PubSubError that names the server, never its password.
 */
export async function migrateDatabase(options: { serverUrl?: string; schema?: string } = {}): Promise<Migrated> {
  const schema = checkSchemaName(options.schema ?? DEFAULT_SCHEMA);
  const server = resolveServer(options.serverUrl);
  const client = new pg.Client({
    connectionString: server.connectionString,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    application_name: "portable-pubsub migrate",
  });
  client.on("error", () => {});
  try {
    await client.connect();
    await migrate(client, schema);
    const { rows } = await client.query(`SELECT max(version) AS version FROM ${schema}.migrations`);
    return { server: server.display, schema, version: Number(rows[0]?.version) };
  } catch (err) {
    throw toPubSubError(
      { resource: `pg schema ${schema} on ${server.display}`, errors: pgErrors, close: async () => {} },
      err,
      "migrate",
    );
  } finally {
    await client.end().catch(() => {});
  }
}

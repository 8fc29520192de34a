import { ErrorCode, PubSubError } from "@portable-pubsub/core/driver";
import { loadDriver } from "../drivers.js";
import { writeOut } from "../io.js";

export interface PgMigrateOptions {
  /** The schema of the driver's tables; default the driver's ("pubsub"). */
  schema?: string;
  /** postgres://…; default DATABASE_URL, else libpq's PG* variables. */
  serverUrl?: string;
  /** Print the SQL instead of running it. */
  print: boolean;
}

/** What `pubsub pg migrate` needs of the pg:// driver package (an optional peer, loaded by name). */
interface PgMigrations {
  migrateDatabase(options: { serverUrl?: string; schema?: string }): Promise<{
    server: string;
    schema: string;
    version: number;
  }>;
  migrationSql(schema: string): Promise<string>;
}

/**
 * `pubsub pg migrate`: creates what is missing of the pg:// driver's tables
 * (the migration `declare=true` runs), or with --print writes its SQL for a
 * DBA to review. Loads @portable-pubsub/driver-postgres as the URL mux does.
 */
export async function pgMigrate(options: PgMigrateOptions): Promise<void> {
  const { module, packageName } = await loadDriver(new URL("pg://migrate"));
  const driver = module as unknown as Partial<PgMigrations>;
  if (typeof driver.migrateDatabase !== "function" || typeof driver.migrationSql !== "function") {
    throw new PubSubError(
      ErrorCode.FailedPrecondition,
      `pg migrate: the pg:// driver (${packageName ?? "registered"}) installed here has no migrations; update it`,
    );
  }
  if (options.print) {
    await writeOut(await driver.migrationSql(options.schema ?? "pubsub"));
    return;
  }
  const done = await driver.migrateDatabase({ serverUrl: options.serverUrl, schema: options.schema });
  await writeOut(`pg migrate: schema ${done.schema} on ${done.server} is at version ${done.version}\n`);
}

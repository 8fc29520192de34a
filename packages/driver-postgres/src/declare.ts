/**
 * The driver's tables: the migration `declare=true` runs, and the look-ups
 * that check, at open, that a topic or a subscription exists.
 */
import { readFile } from "node:fs/promises";
import { DriverError, ErrorCode, invalidArgument } from "@portable-pubsub/core/driver";

import type { Queryable } from "./connection.js";

/** The schema that holds the driver's tables unless the `schema` parameter names another. */
export const DEFAULT_SCHEMA = "pubsub";
/** The migration files of the package, in order; each is idempotent. */
export const MIGRATIONS = ["001_init.sql", "002_outbox.sql", "003_message_id.sql"] as const;

/** A schema name: a lower-case SQL identifier, so that it needs no quoting and reads the same everywhere. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Checks a schema name; anything else is InvalidArgument. */
export function checkSchemaName(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) {
    throw invalidArgument(
      `pg: "${schema}" is not a schema name the driver takes; use lower-case letters, digits and "_", not starting with a digit, at most 63 characters`,
    );
  }
  return schema;
}

/** The text of a migration file as shipped (schema "pubsub"). */
export function migrationText(file: (typeof MIGRATIONS)[number]): Promise<string> {
  return readFile(new URL(`../sql/${file}`, import.meta.url), "utf8");
}

/** A migration's text for `schema`: every `pubsub.` qualifier and the CREATE SCHEMA name replaced. */
export function forSchema(sql: string, schema: string): string {
  checkSchemaName(schema);
  return sql
    .replace(/\bCREATE SCHEMA IF NOT EXISTS pubsub;/g, `CREATE SCHEMA IF NOT EXISTS ${schema};`)
    .replace(/\bpubsub\./g, `${schema}.`);
}

/**
 * Creates what is missing of the driver's tables in `schema`: runs every
 * migration in one implicit transaction (one multi-statement query), under
 * an advisory lock so that two processes declaring at once do not race
 * PostgreSQL's catalog.
 */
export async function migrate(db: Queryable, schema: string): Promise<void> {
  await db.query(`SELECT pg_advisory_xact_lock(hashtext('portable-pubsub migrate'));\n${await migrationSql(schema)}`);
}

/** Every migration's text for `schema`, in order: what `migrate` runs, for a DBA to review or run by hand. */
export async function migrationSql(schema: string): Promise<string> {
  const texts = await Promise.all(MIGRATIONS.map(migrationText));
  return texts.map((sql) => forSchema(sql, schema)).join("\n");
}

/** Creates topic `topic` when missing. */
export async function declareTopic(db: Queryable, schema: string, topic: string): Promise<void> {
  await db.query(`INSERT INTO ${schema}.topics (name) VALUES ($1) ON CONFLICT DO NOTHING`, [topic]);
}

/** Creates subscription `name` of `topic` when missing (and the topic), and returns its id. */
export async function declareSubscription(db: Queryable, schema: string, topic: string, name: string): Promise<string> {
  await declareTopic(db, schema, topic);
  await db.query(`INSERT INTO ${schema}.subscriptions (topic, name) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [
    topic,
    name,
  ]);
  return findSubscription(db, schema, topic, name);
}

/** Resolves if topic `topic` exists; NotFound if not. */
export async function findTopic(db: Queryable, schema: string, topic: string): Promise<void> {
  const { rows } = await db.query(`SELECT 1 FROM ${schema}.topics WHERE name = $1`, [topic]);
  if (rows.length === 0) throw missingTopic(schema, topic);
}

/** The id of subscription `name` of `topic`; NotFound if there is none. */
export async function findSubscription(db: Queryable, schema: string, topic: string, name: string): Promise<string> {
  const { rows } = await db.query(`SELECT id::text AS id FROM ${schema}.subscriptions WHERE topic = $1 AND name = $2`, [
    topic,
    name,
  ]);
  const id = rows[0]?.id;
  if (typeof id !== "string") {
    throw new DriverError(
      `subscription "${name}" of topic "${topic}" does not exist in schema ${schema}`,
      ErrorCode.NotFound,
      {
        hint: `create it (INSERT INTO ${schema}.subscriptions (topic, name) VALUES ('${topic}', '${name}')) or open pg://${topic}?subscription=${name}&declare=true`,
      },
    );
  }
  return id;
}

/** The NotFound of a topic that is not in the topics table. */
export function missingTopic(schema: string, topic: string): DriverError {
  return new DriverError(`topic "${topic}" does not exist in schema ${schema}`, ErrorCode.NotFound, {
    hint: `create it (INSERT INTO ${schema}.topics (name) VALUES ('${topic}')) or open pg://${topic}?declare=true`,
  });
}

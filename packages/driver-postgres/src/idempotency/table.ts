/**
 * The idempotency table and the statements on it. One row per message id
 * that a consumer claimed: `running` while a handler holds it under a lease,
 * `done` once its handler succeeded, until its window ends. `expires_at` is
 * the lease's end for a running row and the window's end for a done row, so
 * that one condition (`expires_at <= clock_timestamp()`) says "claimable
 * again" and one index serves both the claim and the pruning. Times come
 * from the database's clock, never the consumers': hosts whose clocks
 * disagree still agree on leases and windows.
 */
import { DriverError, ErrorCode, invalidArgument } from "@portable-pubsub/core/driver";
import type { Queryable } from "../connection.js";

/** The table the store uses unless the `table` option names another. */
export const DEFAULT_IDEMPOTENCY_TABLE = "idempotency";

/** A table name: a lower-case identifier short enough that its index name (`<table>_expires_at`) fits in 63 bytes. */
const TABLE_NAME = /^[a-z_][a-z0-9_]{0,50}$/;

/** Checks a table name; anything else is InvalidArgument. */
export function checkTableName(table: string): string {
  if (typeof table !== "string" || !TABLE_NAME.test(table)) {
    throw invalidArgument(
      `pgIdempotencyStore: "${String(table)}" is not a table name the store takes; use lower-case letters, digits and "_", not starting with a digit, at most 51 characters`,
    );
  }
  return table;
}

/**
 * The SQL that creates the table in `schema` (idempotent): what the store
 * runs on first use, for a DBA to review or run by hand (then give the
 * store `declare: false`). `fillfactor` leaves room on each page for the
 * updates from running to done.
 */
export function idempotencyTableSql(schema: string, table: string): string {
  return `CREATE SCHEMA IF NOT EXISTS ${schema};
CREATE TABLE IF NOT EXISTS ${schema}.${table} (
  id         text PRIMARY KEY,
  state      text NOT NULL CHECK (state IN ('running', 'done')),
  owner      text NOT NULL,
  expires_at timestamptz NOT NULL
) WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.02);
CREATE INDEX IF NOT EXISTS ${table}_expires_at ON ${schema}.${table} (expires_at);`;
}

/**
 * Creates the table when it is missing. A table that exists is left alone
 * without a CREATE statement, so a database user without the CREATE
 * privilege works with a table a DBA made. Creation runs in one implicit
 * transaction under the advisory lock the driver's migrations take, so that
 * processes starting at once do not race PostgreSQL's catalog.
 */
export async function createTableIfMissing(db: Queryable, schema: string, table: string): Promise<void> {
  if (await tableExists(db, schema, table)) return;
  await db.query(
    `SELECT pg_advisory_xact_lock(hashtext('portable-pubsub migrate'));\n${idempotencyTableSql(schema, table)}`,
  );
}

/** Resolves if the table exists; NotFound, saying how to create it, if not. */
export async function findTable(db: Queryable, schema: string, table: string): Promise<void> {
  if (await tableExists(db, schema, table)) return;
  throw new DriverError(`the idempotency table ${schema}.${table} does not exist`, ErrorCode.NotFound, {
    hint: "create it with the SQL of idempotencyTableSql(schema, table), or leave the store's declare option at its default (true)",
  });
}

async function tableExists(db: Queryable, schema: string, table: string): Promise<boolean> {
  const { rows } = await db.query("SELECT to_regclass($1) IS NOT NULL AS found", [`${schema}.${table}`]);
  return rows[0]?.found === true;
}

/** The statements of one table, built once per store. */
export interface IdempotencyStatements {
  /** $1 ids (text[]), $2 owner, $3 lease in ms: rows (id, status) with status claimed, running or done. */
  readonly claim: string;
  /** $1 ids, $2 owner, $3 window in ms: every id done until the window ends. */
  readonly complete: string;
  /** $1 ids, $2 owner, $3 lease in ms: the ids that `owner` still holds running get the new lease. */
  readonly extend: string;
  /** $1 ids, $2 owner: deletes the ids that `owner` still holds running. */
  readonly release: string;
  /** $1 id, $2 owner, $3 window in ms: one row when this marked the id done, none when it already was. */
  readonly markDone: string;
  /** $1 limit: deletes up to that many rows whose lease or window ended; returns the count. */
  readonly prune: string;
}

/** The ids of a batch, once each and sorted: every statement locks rows in the same order, so two never deadlock. */
const SORTED_IDS = "SELECT DISTINCT id FROM unnest($1::text[]) AS u(id) ORDER BY id";
const EXPIRED = "expires_at <= clock_timestamp()";
const UNTIL = "clock_timestamp() + $3::bigint * interval '1 millisecond'";
/**
 * What a done-mark does to a row the id has already ($2 owner): it becomes done whoever held it, except a
 * done-mark still in its window, which is left as it is. `complete` and the inbox's `markDone` share it.
 */
const AS_DONE = `ON CONFLICT (id) DO UPDATE SET state = 'done', owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
WHERE t.state <> 'done' OR t.${EXPIRED}`;

export function statements(schema: string, table: string): IdempotencyStatements {
  const t = `${schema}.${table}`;
  return {
    // An id is claimed when it has no row, or its row's lease or window ended (ON CONFLICT … WHERE). Otherwise
    // the row as this statement's snapshot saw it says running or done; a row that a concurrent claim
    // committed after that snapshot is not in it (NULL): that claim is running, or has just finished, and
    // "running" makes the caller wait and look again, which is right either way.
    claim: `WITH wanted AS (${SORTED_IDS}),
claimed AS (
  INSERT INTO ${t} AS t (id, state, owner, expires_at)
  SELECT id, 'running', $2, ${UNTIL} FROM wanted
  ON CONFLICT (id) DO UPDATE SET state = 'running', owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
  WHERE t.${EXPIRED}
  RETURNING t.id
)
SELECT w.id, CASE WHEN c.id IS NOT NULL THEN 'claimed' ELSE coalesce(t.state, 'running') END AS status
FROM wanted w LEFT JOIN claimed c ON c.id = w.id LEFT JOIN ${t} t ON t.id = w.id`,
    // Whoever holds the id, as the contract asks (the handler succeeded): a claim another consumer took since
    // becomes done too.
    complete: `INSERT INTO ${t} AS t (id, state, owner, expires_at)
SELECT id, 'done', $2, ${UNTIL} FROM (${SORTED_IDS}) wanted
${AS_DONE}`,
    // Only this owner's live claims, locked in id order as every statement here locks them.
    extend: `UPDATE ${t} t SET expires_at = ${UNTIL} FROM (
  SELECT id FROM ${t} WHERE id = ANY($1::text[]) AND owner = $2 AND state = 'running' AND NOT ${EXPIRED}
  ORDER BY id FOR UPDATE
) mine WHERE t.id = mine.id`,
    // Only this owner's running claims: a claim another consumer took over after the lease ended stays its own.
    release: `DELETE FROM ${t} t USING (
  SELECT id FROM ${t} WHERE id = ANY($1::text[]) AND owner = $2 AND state = 'running' ORDER BY id FOR UPDATE
) mine WHERE t.id = mine.id`,
    // In the handler's transaction. A concurrent transaction that marks the same id waits for this one (the
    // row lock), then re-evaluates the WHERE under READ COMMITTED, finds 'done' and updates nothing.
    markDone: `INSERT INTO ${t} AS t (id, state, owner, expires_at) VALUES ($1, 'done', $2, ${UNTIL})
${AS_DONE}`,
    // SKIP LOCKED: pruning never waits for a claim, and two stores pruning at once take different rows.
    prune: `DELETE FROM ${t} t USING (
  SELECT id FROM ${t} WHERE ${EXPIRED} ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED
) old WHERE t.id = old.id`,
  };
}

/**
 * The relay's statements on the outbox table: the claim, the settling of a
 * batch (delete what was sent, hold back what was not), the backlog, and the
 * check at start that the table exists.
 */
import { DriverError, ErrorCode } from "@portable-pubsub/core/driver";
import type { Queryable } from "../connection.js";
import { SqlState } from "../errors.js";

/** A claimed outbox row. */
export interface OutboxRow {
  id: string;
  message_id: string;
  url: string;
  body: Buffer;
  metadata: Record<string, string>;
}

/**
 * The claim: due rows in id order (the order `outbox.send` wrote them),
 * skipping those another relay holds and those of URLs this relay holds
 * back (`$2`), locked until the claiming transaction ends. A row whose
 * transaction commits late (a lower id than rows already sent) is simply
 * found by a later claim: there is no read position to skip past it.
 */
export function claimStatement(schema: string): string {
  return `SELECT id::text AS id, message_id::text AS message_id, url, body, metadata FROM ${schema}.outbox
WHERE visible_at <= now() AND url <> ALL($2::text[])
ORDER BY outbox.id LIMIT $1 FOR UPDATE SKIP LOCKED`;
}

export class RelayRows {
  readonly #schema: string;

  constructor(schema: string) {
    this.#schema = schema;
  }

  /**
   * In the claiming transaction: deletes the rows whose send resolved, and
   * moves the others' `visible_at` past their URL's backoff, counting the
   * attempt and keeping the error for whoever looks at the table.
   */
  async settle(
    client: Queryable,
    sent: readonly string[],
    held: readonly { ids: string[]; delayMs: number; error: string }[],
  ): Promise<void> {
    if (sent.length > 0) {
      await client.query(`DELETE FROM ${this.#schema}.outbox WHERE id = ANY($1::bigint[])`, [sent]);
    }
    for (const { ids, delayMs, error } of held) {
      await client.query(
        `UPDATE ${this.#schema}.outbox SET visible_at = now() + $2 * interval '1 millisecond', attempts = attempts + 1, last_error = $3
WHERE id = ANY($1::bigint[])`,
        [ids, delayMs, error.slice(0, 1000)],
      );
    }
  }

  /** Rows waiting, and the age of the oldest in ms. */
  async backlog(db: Queryable): Promise<{ rows: number; oldestAgeMs: number }> {
    const { rows } = await db.query(
      `SELECT count(*)::int AS rows, coalesce(extract(epoch FROM clock_timestamp() - min(created_at)) * 1000, 0)::float8 AS age
FROM ${this.#schema}.outbox`,
    );
    return { rows: Number(rows[0]?.rows ?? 0), oldestAgeMs: Math.max(0, Math.round(Number(rows[0]?.age ?? 0))) };
  }
}

/** Resolves if the outbox table exists in `schema`; NotFound saying how to create it otherwise. */
export async function findOutboxTable(db: Queryable, schema: string): Promise<void> {
  try {
    await db.query(`SELECT 1 FROM ${schema}.outbox LIMIT 0`);
  } catch (err) {
    if (
      (err as { code?: string }).code !== SqlState.UndefinedTable &&
      (err as { code?: string }).code !== SqlState.InvalidSchemaName
    )
      throw err;
    throw new DriverError(`the outbox table ${schema}.outbox does not exist`, ErrorCode.NotFound, {
      hint: `run the package's migrations (pubsub pg migrate --schema ${schema}, or sql/002_outbox.sql) or start the relay with declare: true`,
      cause: err,
    });
  }
}

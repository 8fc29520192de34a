/**
 * The statements of a subscription on its delivery rows. A consumer claims
 * rows whose `visible_at` has passed with FOR UPDATE SKIP LOCKED (competing
 * consumers never wait for each other), and the claim itself is the lease:
 * it sets `visible_at` to the end of the lease and counts the attempt.
 * There is no read position: a row is found whenever its transaction
 * commits, so no message is skipped when transactions commit out of order.
 * Acks delete rows; nacks, redeliveries and lease extensions move
 * `visible_at`, only for the delivery (attempt) that holds the lease.
 */

import type { DeliveryRow, PgAckId } from "./codec.js";
import type { Queryable } from "./connection.js";

/** Messages the retention sweep deletes at most in one statement. */
export const SWEEP_LIMIT = 5000;

/** The SQL of one schema's delivery rows, bound to a subscription id by each call. */
export class Deliveries {
  readonly #db: Queryable;
  readonly #claim: string;
  readonly #ack: string;
  readonly #move: string;
  readonly #sweep: string;

  constructor(db: Queryable, schema: string) {
    this.#db = db;
    this.#claim = `WITH c AS (
  SELECT message_id FROM ${schema}.deliveries
  WHERE subscription_id = $1 AND visible_at <= now()
  ORDER BY message_id LIMIT $2 FOR UPDATE SKIP LOCKED),
u AS (
  UPDATE ${schema}.deliveries d SET visible_at = now() + $3 * interval '1 millisecond', attempts = d.attempts + 1
  FROM c WHERE d.subscription_id = $1 AND d.message_id = c.message_id
  RETURNING d.message_id, d.attempts)
SELECT u.message_id::text AS message_id, u.attempts, m.body, m.metadata, m.msg_id
FROM u JOIN ${schema}.messages m ON m.id = u.message_id ORDER BY u.message_id`;
    this.#ack = `DELETE FROM ${schema}.deliveries WHERE subscription_id = $1 AND message_id = ANY($2::bigint[])`;
    this.#move = `UPDATE ${schema}.deliveries d SET visible_at = now() + u.delay_ms * interval '1 millisecond'
FROM unnest($2::bigint[], $3::int[], $4::float8[]) AS u(message_id, attempts, delay_ms)
WHERE d.subscription_id = $1 AND d.message_id = u.message_id AND d.attempts = u.attempts`;
    // A message with no delivery row left was acked by every subscription (or its subscriptions were removed):
    // its delivery rows were written with it, in one statement, so none can appear later.
    this.#sweep = `DELETE FROM ${schema}.messages WHERE id IN (
  SELECT m.id FROM ${schema}.messages m
  WHERE NOT EXISTS (SELECT 1 FROM ${schema}.deliveries d WHERE d.message_id = m.id)
  ORDER BY m.id LIMIT $1 FOR UPDATE SKIP LOCKED)`;
  }

  /** Claims up to `max` visible rows of subscription `id`, leased for `leaseMs`, in message order. */
  async claim(id: string, max: number, leaseMs: number): Promise<DeliveryRow[]> {
    const { rows } = await this.#db.query(this.#claim, [id, max, leaseMs]);
    return rows as unknown as DeliveryRow[];
  }

  /** Deletes the rows of these messages: one statement per batch of acks. */
  async ack(id: string, ackIds: readonly PgAckId[]): Promise<void> {
    await this.#db.query(this.#ack, [id, ackIds.map((a) => a.messageId)]);
  }

  /**
   * Makes each row visible again `delaysMs[i]` from now (0: at once; the
   * lease: an extension), if the delivery `ackIds[i]` still holds it.
   */
  async move(id: string, ackIds: readonly PgAckId[], delaysMs: readonly number[]): Promise<void> {
    await this.#db.query(this.#move, [id, ackIds.map((a) => a.messageId), ackIds.map((a) => a.attempt), delaysMs]);
  }

  /** Deletes up to SWEEP_LIMIT messages no subscription still has to receive; returns how many. */
  async sweep(): Promise<number> {
    const { rowCount } = await this.#db.query(this.#sweep, [SWEEP_LIMIT]);
    return rowCount ?? 0;
  }
}

/**
 * Charging an order, once: the consumer's effect, a row in PostgreSQL's
 * `charges` table, written in the transaction that the PostgreSQL inbox
 * (`pgIdempotencyStore`) opens for the message and in which it also marks
 * the message's id done. The charge and "done" commit together or not at
 * all, so a consumer killed at any point charges nothing twice: its
 * redelivered orders are either done (acked without the handler) or rolled
 * back with it (charged again, for the first time).
 */
import type pg from "pg";
import type { Order } from "./orders.js";

/** What one order costs, in cents: a flat price per item, as a stand-in for a real price list. */
export const PRICE_CENTS = 1250;

export class Charges {
  readonly #table: string;

  private constructor(schema: string) {
    this.#table = `${schema}.charges`;
  }

  /**
   * Creates the charges table when missing. There is deliberately no unique
   * constraint on `order_id`: the inbox is what charges an order once, and
   * the test that kills the consumer would see a second charge if it did not.
   */
  static async open(pool: pg.Pool, schema: string): Promise<Charges> {
    const charges = new Charges(schema);
    await pool.query(`CREATE TABLE IF NOT EXISTS ${charges.#table} (
      id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      order_id     uuid NOT NULL,
      amount_cents integer NOT NULL,
      charged_at   timestamptz NOT NULL DEFAULT now(),
      charged_by   integer NOT NULL
    )`);
    return charges;
  }

  /** Charges `order` in `tx`, the handler's transaction (`ctx.tx`): nothing is charged unless it commits. */
  async charge(tx: pg.ClientBase, order: Order): Promise<void> {
    await tx.query(`INSERT INTO ${this.#table} (order_id, amount_cents, charged_by) VALUES ($1, $2, $3)`, [
      order.id,
      order.quantity * PRICE_CENTS,
      process.pid,
    ]);
  }
}

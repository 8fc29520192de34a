/**
 * Orders kept in PostgreSQL, each written with its `order.created` message in
 * one transaction through the pg:// driver's transactional outbox: the order
 * row and the message exist together or not at all, whatever broker the
 * message goes to and whether it is up. A relay (`src/relay-main.ts`, or
 * `pubsub outbox relay`) sends the message once the transaction commits.
 */
import { CONTENT_TYPE_KEY, json } from "@portable-pubsub/core";
import { outbox } from "@portable-pubsub/driver-postgres";
import type pg from "pg";
import { newOrder, type Order, type OrderRequest, orderMessage } from "./orders.js";

/** The metadata key and value that say what happened to the order: consumers route and filter on it. */
export const EVENT_TYPE_KEY = "event-type";
export const ORDER_CREATED = "order.created";

/** The codec of the service's typed topic and subscription (json(), OrderSchema's default). */
const ORDER_CODEC = json();

/** Where the store keeps its rows. */
export interface OrderStoreOptions {
  /** The topic URL the `order.created` messages go to, such as `rabbit://orders`: no password in it. */
  topicUrl: string;
  /** The schema of the orders table and of the outbox. Default "public" for orders, "pubsub" for the outbox. */
  ordersSchema?: string;
  /** The schema of the pg:// driver's tables (the outbox's). Default "pubsub". */
  outboxSchema?: string;
}

/** An order as stored, with the id every send of its message carries (`outbox-id`). */
export interface StoredOrder {
  order: Order;
  messageId: string;
}

export class OrderStore {
  readonly #pool: pg.Pool;
  readonly #options: OrderStoreOptions;
  readonly #orders: string;

  private constructor(pool: pg.Pool, options: OrderStoreOptions) {
    this.#pool = pool;
    this.#options = options;
    this.#orders = `${options.ordersSchema ?? "public"}.orders`;
  }

  /** Creates the orders table when missing (the outbox's comes from `pubsub pg migrate` or a relay's declare). */
  static async open(pool: pg.Pool, options: OrderStoreOptions): Promise<OrderStore> {
    const store = new OrderStore(pool, options);
    await pool.query(`CREATE TABLE IF NOT EXISTS ${store.#orders} (
      id uuid PRIMARY KEY,
      item text NOT NULL,
      quantity integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
      customer text,
      created_at timestamptz NOT NULL
    )`);
    return store;
  }

  /**
   * Writes the order and its `order.created` message in one transaction; once
   * this resolves both are committed, and the relay will send the message.
   * When anything fails, the transaction is rolled back: no order, no message.
   */
  async place(request: OrderRequest): Promise<StoredOrder> {
    const order = newOrder(request);
    const tx = await this.#pool.connect();
    try {
      await tx.query("BEGIN");
      await tx.query(
        `INSERT INTO ${this.#orders} (id, item, quantity, customer, created_at) VALUES ($1, $2, $3, $4, $5)`,
        [order.id, order.item, order.quantity, order.customer ?? null, order.createdAt],
      );
      // The outbox stores bytes: the order goes as the typed topic would send it, encoded by its codec.
      const message = orderMessage(order);
      const metadata = {
        ...message.metadata,
        [CONTENT_TYPE_KEY]: ORDER_CODEC.contentType,
        [EVENT_TYPE_KEY]: ORDER_CREATED,
      };
      // json() encodes to a string, never to a body with metadata of its own.
      const body = ORDER_CODEC.encode(message.data, { metadata }) as string;
      // The order's id is the message's id: every send of it carries it, and the consumer's inbox dedups by it.
      const { id } = await outbox.send(
        tx,
        this.#options.topicUrl,
        { id: order.id, body, metadata },
        { schema: this.#options.outboxSchema },
      );
      await tx.query("COMMIT");
      return { order, messageId: id };
    } catch (err) {
      await tx.query("ROLLBACK").catch(() => {});
      throw err;
    } finally {
      tx.release();
    }
  }

  /** The order of `id`, or undefined. */
  async find(id: string): Promise<Order | undefined> {
    const { rows } = await this.#pool.query(
      `SELECT id, item, quantity, customer, created_at FROM ${this.#orders} WHERE id = $1`,
      [id],
    );
    const row = rows[0];
    if (!row) return undefined;
    return {
      id: row.id,
      item: row.item,
      quantity: row.quantity,
      ...(row.customer === null ? {} : { customer: row.customer }),
      createdAt: new Date(row.created_at).toISOString(),
    };
  }
}

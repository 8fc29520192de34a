/**
 * The idempotency store on PostgreSQL, and the inbox: `pgIdempotencyStore`
 * for the subscription option `idempotency: { store }`, whose handlers get
 * `ctx.tx`, a transaction that also writes the message id's done-mark.
 */
export {
  DEFAULT_PRUNE_INTERVAL_MS,
  type PgIdempotencyStore,
  type PgIdempotencyStoreOptions,
  PRUNE_LIMIT,
  pgIdempotencyStore,
} from "./store.js";
export { DEFAULT_IDEMPOTENCY_TABLE, idempotencyTableSql } from "./table.js";

/**
 * @portable-pubsub/driver-postgres: `pg://`, PostgreSQL tables as a broker,
 * through node-postgres (`pg`). A message is stored once; each subscription
 * of its topic gets a delivery row, written in the same statement, which
 * consumers claim with FOR UPDATE SKIP LOCKED; the claim is a lease, a nack
 * or a delayed redelivery moves `visible_at`, an ack deletes the row, and
 * NOTIFY wakes receivers (polling without it, for PgBouncer). `outbox`
 * writes messages for any URL in the application's own transaction, and its
 * relay sends them once committed.
 */
export { about } from "./about.js";
export {
  checkStorable,
  type DeliveryRow,
  type Inserted,
  insertMessages,
  notifyChannel,
  type PgAckId,
  toDriverMessage,
} from "./codec.js";
export {
  CONNECT_TIMEOUT_MS,
  type ConnectingQueryable,
  DEFAULT_POOL_SIZE,
  PgLink,
  poolConfig,
  QUERY_TIMEOUT_MS,
  type Queryable,
  quietPool,
  sharedLink,
} from "./connection.js";
export {
  checkSchemaName,
  DEFAULT_SCHEMA,
  declareSubscription,
  declareTopic,
  findSubscription,
  findTopic,
  forSchema,
  MIGRATIONS,
  migrate,
  migrationSql,
  migrationText,
  missingTopic,
} from "./declare.js";
export { Deliveries, SWEEP_LIMIT } from "./deliveries.js";
export { isConnectionLoss, PgDriverError, pgErrors, SqlState } from "./errors.js";
/**
 * The idempotency store on a PostgreSQL table, and the inbox:
 * `idempotency: { store: pgIdempotencyStore({ serverUrl }) }` on a
 * subscription of any scheme gives its handlers `ctx.tx`, a transaction in
 * which their writes and the message's done-mark commit together.
 */
export {
  DEFAULT_IDEMPOTENCY_TABLE,
  DEFAULT_PRUNE_INTERVAL_MS,
  idempotencyTableSql,
  type PgIdempotencyStore,
  type PgIdempotencyStoreOptions,
  PRUNE_LIMIT,
  pgIdempotencyStore,
} from "./idempotency/index.js";
export { inspectURL } from "./inspect.js";
export { type Migrated, migrateDatabase } from "./migrate.js";
/**
 * The transactional outbox: `outbox.send(tx, url, message)` writes a message
 * for any URL in the application's own pg transaction; `outbox.startRelay()`
 * sends what was committed, at least once, each send carrying the
 * message's id.
 */
export * as outbox from "./outbox/index.js";
export { resolveServer, SERVER_URL_ENV, type ServerSettings } from "./server.js";
export {
  DEFAULT_LEASE_MS,
  DEFAULT_POLL_INTERVAL_MS,
  openPgSubscription,
  PgSubscriptionDriver,
  type PgSubscriptionOptions,
  type PgSubscriptionSettings,
} from "./subscription.js";
export { MESSAGING_SYSTEM, telemetryFor } from "./telemetry.js";
export { openPgTopic, PgTopicDriver, type PgTopicOptions, type PgTopicSettings } from "./topic.js";
export { openSubscriptionURL, openTopicURL, type PgURLOptions, queryParameters, topicName } from "./url.js";

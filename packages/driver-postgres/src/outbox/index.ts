/**
 * The transactional outbox, as `import { outbox } from "@portable-pubsub/driver-postgres"`:
 * `outbox.send(tx, url, message)` in the application's transaction, and
 * `outbox.startRelay(options)` to send what was committed.
 */
export { OUTBOX_ID_KEY, type OutboxSendOptions, type OutboxSent, outboxChannel, send } from "./outbox.js";
export { DEFAULT_RELAY_BATCH, startRelay } from "./relay.js";
export type { Relay, RelayOptions, RelayStats } from "./relay-options.js";

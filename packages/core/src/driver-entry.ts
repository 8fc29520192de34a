// biome-ignore-all assist/source/organizeImports: the exports are grouped by purpose, for the entry point's readers.
/**
 * @portable-pubsub/core/driver: what a driver author needs. The contract
 * (TopicDriver, SubscriptionDriver, DriverModule) and the kit every driver
 * shares, so that no driver writes its own, grouped below by purpose.
 * Cross-cutting work (batching, retries, error messages, tracing, shutdown)
 * is the portable Topic's and Subscription's, around the driver, so the
 * batcher and the retry loop core uses are not exported here. Three exports
 * are for tools built on core, not for drivers, and say so in their docs:
 * `toPubSubError` (for a driver's helper that runs without a Topic or
 * Subscription around it, such as a migrate step), `builtinDrivers` (the
 * CLI's list of schemes), `checkOutgoingMessage` (Topic.send's check of a
 * message, for what stores messages to send later, as pg's outbox does) and
 * `sendableMessageId` (for a tool that sends a received message on, as
 * `pubsub redrive` does).
 */

// The contract: what a driver implements, and what its package exports for the URL mux.
export type {
  BatchLimits,
  DriverBase,
  DriverMessage,
  DriverServer,
  DriverTelemetry,
  ErrorClassifier,
  Redelivery,
  SubscriptionDriver,
  TopicDriver,
} from "./driver/driver.js";
export type { DriverAbout, DriverModule, SubscriptionURLOpener, TopicURLOpener } from "./openers.js";
export type { Check, Inspection, UrlInspector } from "./driver/inspect.js";
// The idempotency store contract, for stores of message ids (memory, Redis, PostgreSQL, your own).
export type {
  ClaimOptions,
  ClaimOutcome,
  CompleteOptions,
  ExtendOptions,
  IdempotencyStore,
  ReleaseOptions,
} from "./driver/idempotency.js";

// URL parameters and options, under one vocabulary (param.* builds zod 4 schemas).
export {
  type DurationBounds,
  decodeName,
  describeUrl,
  type OptionsShape,
  param,
  parseByteSize,
  parseDurationMs,
  parseOptions,
  parseQuery,
  type ResourceNaming,
  resourceName,
  resourceUrl,
} from "./driver/params.js";
export { type QueryParameters, START_VALUES, VOCABULARY, type VocabularyName } from "./driver/vocabulary.js";
export { MAX_TIMER_MS } from "./driver/timers.js";

// Waiting and cancellation.
export { raceSignal, settledWithin, sleep, throwIfAborted } from "./driver/abort.js";
export { WakeUp } from "./driver/wakeup.js";
export { backoffDelay, defaultRetryOptions } from "./driver/retry.js";

// Connections: the first connection, health, notices, network errors.
export { FirstConnection, type FirstConnectionOptions } from "./driver/first-connection.js";
export { type HealthErrorCode, type HealthSource, HealthTracker } from "./driver/health.js";
export { type DriverNotice, type NoticeSource, Notices } from "./driver/notices.js";
export { certificateHint, DEFAULT_CONNECT_TIMEOUT_MS, isCertificateError, isNetworkError } from "./driver/network.js";

// Messages: receive buffers, leases, partial sends, metadata in headers.
export { type BufferedAckId, DeliveryBuffer } from "./driver/delivery-buffer.js";
export { HeldLeases, type HeldLeasesOptions } from "./driver/held-leases.js";
export { PlacedList } from "./driver/placed-list.js";
export { StoredMessages } from "./driver/stored-messages.js";
export { ESCAPED_HEADER_PREFIX, HeaderMetadata, type HeaderMetadataOptions } from "./driver/header-metadata.js";
export { MESSAGE_ID_KEY, messageIdFromMetadata, messageIdToMetadata } from "./driver/message-id-metadata.js";
export { sendableMessageId } from "./message-id.js";
export { latin1Text, utf8Text, writeUtf8 } from "./driver/buffer-text.js";

// Errors a driver makes itself.
export { DriverError, type DriverErrorOptions } from "./driver/driver-error.js";
export { canceledError, invalidArgument, redactUnparsedUrl } from "./errors.js";

// For tools built on core, not for drivers (see each one's docs).
export { toPubSubError } from "./driver/error-mapping.js";
export { builtinDrivers } from "./mux.js";
// The check Topic.send makes of an outgoing message, for what stores messages to send later (pg's outbox).
export { toDriverMessage as checkOutgoingMessage } from "./outgoing-message.js";

// The portable types a driver builds and returns.
export * from "./index.js";

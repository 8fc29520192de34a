/**
 * The names this library records, from the OpenTelemetry semantic
 * conventions for messaging (version 1.45.0 of
 * `@opentelemetry/semantic-conventions`, whose messaging part is still
 * "development"). Written out here rather than imported, so that core
 * depends on `@opentelemetry/api` alone.
 */
export const SEMCONV_VERSION = "1.45.0";

export const ATTR = {
  system: "messaging.system",
  operationName: "messaging.operation.name",
  operationType: "messaging.operation.type",
  destination: "messaging.destination.name",
  subscription: "messaging.destination.subscription.name",
  consumerGroup: "messaging.consumer.group.name",
  messageId: "messaging.message.id",
  bodySize: "messaging.message.body.size",
  batchCount: "messaging.batch.message_count",
  serverAddress: "server.address",
  serverPort: "server.port",
  errorType: "error.type",
} as const;

export const METRIC = {
  operationDuration: "messaging.client.operation.duration",
  sentMessages: "messaging.client.sent.messages",
  consumedMessages: "messaging.client.consumed.messages",
  processDuration: "messaging.process.duration",
  /** Not in the conventions: how often a connection was re-established. */
  reconnects: "portable_pubsub.client.reconnects",
  /** Not in the conventions: 1 for the current health state of a Topic or Subscription, 0 for the others. */
  health: "portable_pubsub.client.health",
  /**
   * Not in the conventions (which have no duplicate count, and reserve the
   * `messaging.` namespace for their own names): messages an idempotent
   * Subscription acked without running a handler, their id being done.
   */
  duplicates: "portable_pubsub.client.consumed.duplicates",
} as const;

/** `messaging.system` of a driver that does not say. */
export const UNKNOWN_SYSTEM = "portable_pubsub";

import { ErrorCode, PubSubError, redactUrl } from "@portable-pubsub/core";

/** gRPC status codes, as the gRPC specification numbers them. */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

const STATUS_NAMES = new Map<number, string>(Object.entries(GrpcStatus).map(([name, code]) => [code, name]));

const PORTABLE: Readonly<Record<number, ErrorCode>> = {
  [GrpcStatus.CANCELLED]: ErrorCode.Canceled,
  [GrpcStatus.UNKNOWN]: ErrorCode.Unknown,
  [GrpcStatus.INVALID_ARGUMENT]: ErrorCode.InvalidArgument,
  [GrpcStatus.OUT_OF_RANGE]: ErrorCode.InvalidArgument,
  [GrpcStatus.DEADLINE_EXCEEDED]: ErrorCode.DeadlineExceeded,
  [GrpcStatus.NOT_FOUND]: ErrorCode.NotFound,
  [GrpcStatus.ALREADY_EXISTS]: ErrorCode.AlreadyExists,
  [GrpcStatus.PERMISSION_DENIED]: ErrorCode.PermissionDenied,
  [GrpcStatus.UNAUTHENTICATED]: ErrorCode.PermissionDenied,
  [GrpcStatus.RESOURCE_EXHAUSTED]: ErrorCode.ResourceExhausted,
  [GrpcStatus.FAILED_PRECONDITION]: ErrorCode.FailedPrecondition,
  [GrpcStatus.UNIMPLEMENTED]: ErrorCode.Unimplemented,
  [GrpcStatus.INTERNAL]: ErrorCode.Internal,
  [GrpcStatus.DATA_LOSS]: ErrorCode.Internal,
  // ABORTED and UNAVAILABLE have no portable equivalent; they are retried (see RETRYABLE), so
  // a caller sees them only once retries run out, as Unknown, as in the Go CDK.
};

/**
 * Statuses worth retrying unchanged. Every RPC this driver makes is safe to
 * repeat: a repeated Publish can at worst duplicate a message (delivery is
 * at-least-once anyway, and Google's own client retries Publish on all of
 * these), a repeated Pull at worst leaves messages to their ack deadline, and
 * Acknowledge / ModifyAckDeadline are idempotent. So beyond UNAVAILABLE (the
 * connection dropped or the server is restarting) we retry DEADLINE_EXCEEDED
 * (a stalled network), ABORTED and INTERNAL (transient server-side failures, as
 * Google's retry settings for Publish and Pull treat them) and
 * RESOURCE_EXHAUSTED (a quota throttle, which backoff is the cure for).
 * CANCELLED is not retried: here it means our own signal fired or the client
 * was closed.
 */
const RETRYABLE: ReadonlySet<number> = new Set([
  GrpcStatus.UNAVAILABLE,
  GrpcStatus.DEADLINE_EXCEEDED,
  GrpcStatus.ABORTED,
  GrpcStatus.INTERNAL,
  GrpcStatus.RESOURCE_EXHAUSTED,
]);

/** The gRPC status code of `err` or of an error in its `cause` chain, or undefined if none has one. */
export function grpcStatus(err: unknown): number | undefined {
  let current: unknown = err;
  for (let depth = 0; current !== null && typeof current === "object" && depth < 8; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "number" && STATUS_NAMES.has(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Maps a gRPC status to a portable code; errors without one are Unknown. */
export function portableCode(err: unknown): ErrorCode {
  if (err instanceof PubSubError) return err.code;
  const status = grpcStatus(err);
  return status === undefined ? ErrorCode.Unknown : (PORTABLE[status] ?? ErrorCode.Unknown);
}

/** True if `err` carries a gRPC status worth retrying (see RETRYABLE). */
export function isRetryableStatus(err: unknown): boolean {
  const status = grpcStatus(err);
  return status !== undefined && RETRYABLE.has(status);
}

const HINTS: Readonly<Record<number, string>> = {
  [GrpcStatus.NOT_FOUND]:
    "check the project and name, or create it first (gcloud pubsub topics create / subscriptions create)",
  [GrpcStatus.PERMISSION_DENIED]:
    "grant the caller roles/pubsub.publisher (topics) or roles/pubsub.subscriber (subscriptions)",
  [GrpcStatus.UNAUTHENTICATED]:
    "set up Application Default Credentials (gcloud auth application-default login, or GOOGLE_APPLICATION_CREDENTIALS), or set PUBSUB_EMULATOR_HOST for the emulator",
  [GrpcStatus.UNAVAILABLE]: "the Pub/Sub endpoint cannot be reached; check the network, or PUBSUB_EMULATOR_HOST",
};

/**
 * Wraps an error of a Pub/Sub RPC as a PubSubError whose message names the
 * operation, the resource, the gRPC status and, where one helps, what to do.
 * The gRPC error stays reachable as `cause` (and through `errorAs`).
 */
export function rpcError(err: unknown, operation: string, resource: string): PubSubError {
  if (err instanceof PubSubError) return err;
  const status = grpcStatus(err);
  const name = status === undefined ? undefined : STATUS_NAMES.get(status);
  const details = (err as { details?: unknown } | null)?.details;
  const text = typeof details === "string" && details ? details : err instanceof Error ? err.message : String(err);
  const hint = status === undefined ? undefined : HINTS[status];
  const message = `gcppubsub: ${operation} ${resource}: ${name ? `${name}: ` : ""}${redactUrl(text)}${hint ? `; ${hint}` : ""}`;
  return new PubSubError(portableCode(err), message, { cause: err });
}

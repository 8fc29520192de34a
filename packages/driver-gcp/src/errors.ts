import { type ErrorClassifier, ErrorCode } from "@portable-pubsub/core/driver";

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

/**
 * Returns the gRPC status code of `err`, or undefined if it has none. The
 * Pub/Sub client rejects with such errors; a PubSubError of this driver
 * carries one as its `cause`: `grpcStatus(err.cause)`.
 */
export function grpcStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === "number" && STATUS_NAMES.has(code) ? code : undefined;
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
 * How gRPC status errors of the Pub/Sub client map to portable ones, for the
 * topic and the subscription drivers alike: the code by status (see
 * PORTABLE), retries by status (see RETRYABLE), and a hint that names the
 * status (gRPC puts its name in the message, "5 NOT_FOUND: …", but not every
 * error of the client library does) and, where one helps, what to do.
 */
export const gcpErrors: ErrorClassifier = {
  errorCode(err) {
    const status = grpcStatus(err);
    return status === undefined ? ErrorCode.Unknown : (PORTABLE[status] ?? ErrorCode.Unknown);
  },
  isRetryable(err) {
    const status = grpcStatus(err);
    return status !== undefined && RETRYABLE.has(status);
  },
  hint(err) {
    const status = grpcStatus(err);
    if (status === undefined) return undefined;
    const name = STATUS_NAMES.get(status) as string;
    const named = err instanceof Error && err.message.includes(name) ? undefined : `gRPC status ${name}`;
    return [named, HINTS[status]].filter((part) => part !== undefined).join("; ") || undefined;
  },
};

/**
 * What nats:// errors mean portably, decided in one place: {@link natsErrors},
 * the classifier the topic and subscription drivers share. nats.js names its
 * error classes (`err.name`), JetStream API errors carry the server's
 * `err_code` and an HTTP-like status, and a request error keeps the real
 * reason (a permissions violation, no responders) as its `cause`; errors the
 * driver makes itself are the kit's DriverErrors. Drivers throw all of them
 * as they are: core builds the PubSubError the caller sees.
 */
import { DriverError, type ErrorClassifier, ErrorCode, isNetworkError } from "@portable-pubsub/core/driver";

/**
 * An error this driver makes for a broker condition, with its portable code:
 * the kit's DriverError, under the name this package has always exported.
 */
export const NatsDriverError = DriverError;
/** An error this driver makes for a broker condition, with its portable code: the kit's DriverError. */
export type NatsDriverError = DriverError;

/** What `lost` rejects with: the PubAcks still due on the connection that dropped will not come. */
export class ConnectionLostError extends DriverError {
  constructor() {
    super("the connection to NATS was lost while waiting for the PubAck", ErrorCode.Unknown, { retryable: true });
  }
}

/** JetStream API error codes (`err_code`) this driver acts on. */
export const JsErrCode = {
  ConsumerNotFound: 10014,
  StreamNotFound: 10059,
  JetStreamNotEnabledForAccount: 10039,
  JetStreamNotEnabled: 10076,
  MessageExceedsMaximum: 10054,
  StoreFailed: 10077,
  StreamNameInUse: 10058,
  SubjectsOverlap: 10065,
  ConsumerNameExists: 10013,
  ConsumerAlreadyExists: 10148,
  InsufficientResources: 10023,
  MaximumConsumersLimit: 10026,
  MaximumStreamsLimit: 10027,
  StreamLimits: 10053,
  NoSuitablePeers: 10005,
  ReplicasNotSupported: 10074,
} as const;

interface Meaning {
  code: ErrorCode;
  retryable: boolean;
  hint?: string;
}

const NOT_FOUND_STREAM =
  "the JetStream stream does not exist; create it (nats stream add) or open the URL with declare=true";
const NOT_FOUND_CONSUMER =
  "the durable consumer does not exist; create it (nats consumer add STREAM NAME --pull) or open the subscription with declare=true";
const LIMITS =
  "the stream is full under its limits (max_msgs, max_bytes, max_msgs_per_subject with discard new); raise them, or consume and delete messages";

const API_CODES: Record<number, Meaning> = {
  [JsErrCode.StreamNotFound]: { code: ErrorCode.NotFound, retryable: false, hint: NOT_FOUND_STREAM },
  [JsErrCode.ConsumerNotFound]: { code: ErrorCode.NotFound, retryable: false, hint: NOT_FOUND_CONSUMER },
  [JsErrCode.JetStreamNotEnabledForAccount]: {
    code: ErrorCode.FailedPrecondition,
    retryable: false,
    hint: "JetStream is not enabled for this account; enable it in the server's account configuration",
  },
  [JsErrCode.JetStreamNotEnabled]: {
    code: ErrorCode.FailedPrecondition,
    retryable: false,
    hint: "JetStream is not enabled on the server; start nats-server with -js",
  },
  [JsErrCode.MessageExceedsMaximum]: {
    code: ErrorCode.InvalidArgument,
    retryable: false,
    hint: "the message is larger than the stream's max_msg_size; send a smaller one or raise the limit",
  },
  [JsErrCode.StreamNameInUse]: { code: ErrorCode.AlreadyExists, retryable: false },
  [JsErrCode.SubjectsOverlap]: {
    code: ErrorCode.FailedPrecondition,
    retryable: false,
    hint: "another stream already covers these subjects; use that stream, or name other subjects",
  },
  [JsErrCode.ConsumerNameExists]: { code: ErrorCode.AlreadyExists, retryable: false },
  [JsErrCode.ConsumerAlreadyExists]: { code: ErrorCode.AlreadyExists, retryable: false },
  [JsErrCode.InsufficientResources]: {
    code: ErrorCode.ResourceExhausted,
    retryable: false,
    hint: "the server lacks the storage or memory JetStream needs; free some or raise its limits",
  },
  // Stream placement refused: too few servers in the cluster for its replicas, or no cluster at all.
  [JsErrCode.NoSuitablePeers]: {
    code: ErrorCode.FailedPrecondition,
    retryable: false,
    hint: "the JetStream cluster has fewer servers up than the replicas asked for (replicas=N needs N servers); ask for fewer, or start more servers",
  },
  [JsErrCode.ReplicasNotSupported]: {
    code: ErrorCode.FailedPrecondition,
    retryable: false,
    hint: "the server is not part of a JetStream cluster; leave replicas out (or set 1), or run a cluster",
  },
  [JsErrCode.MaximumConsumersLimit]: { code: ErrorCode.ResourceExhausted, retryable: false },
  [JsErrCode.MaximumStreamsLimit]: { code: ErrorCode.ResourceExhausted, retryable: false },
  [JsErrCode.StreamLimits]: { code: ErrorCode.ResourceExhausted, retryable: false },
};

/** An error and its causes, outermost first. */
function* chain(err: unknown): Generator<Error> {
  let current = err;
  for (let depth = 0; current instanceof Error && depth < 8; depth++) {
    yield current;
    current = current.cause;
  }
}

function apiError(err: Error): { code: number; err_code: number; description: string } | undefined {
  const api = (err as { apiError?: () => unknown }).apiError;
  if (typeof api !== "function") return undefined;
  const value = api.call(err) as { code?: unknown; err_code?: unknown; description?: unknown } | undefined;
  return {
    code: Number(value?.code ?? 0),
    err_code: Number(value?.err_code ?? 0),
    description: String(value?.description ?? ""),
  };
}

/** What one error (not its causes) means, or undefined when it says nothing of its own. */
function meaningOf(err: Error): Meaning | undefined {
  if (err instanceof DriverError) {
    return { code: err.code, retryable: err.options.retryable ?? false, hint: err.options.hint };
  }
  const api = apiError(err);
  if (api) {
    const known = API_CODES[api.err_code];
    if (known) return known;
    if (api.err_code === JsErrCode.StoreFailed && /maximum|exceeded/i.test(api.description)) {
      return { code: ErrorCode.ResourceExhausted, retryable: false, hint: LIMITS };
    }
    if (api.code === 400) return { code: ErrorCode.InvalidArgument, retryable: false };
    if (api.code === 403) return { code: ErrorCode.PermissionDenied, retryable: false };
    if (api.code === 404) return { code: ErrorCode.NotFound, retryable: false };
    if (api.code === 409) return { code: ErrorCode.FailedPrecondition, retryable: false };
    if (api.code === 503) return { code: ErrorCode.Unknown, retryable: true, hint: "JetStream is unavailable for now" };
    return { code: ErrorCode.Internal, retryable: false };
  }
  switch (err.name) {
    case "PermissionViolationError": {
      const { operation, subject } = err as { operation?: string; subject?: string };
      return {
        code: ErrorCode.PermissionDenied,
        retryable: false,
        hint: `the NATS user may not ${operation === "subscription" ? "subscribe" : "publish"} to "${subject ?? "?"}"; grant it in the server's authorization settings`,
      };
    }
    case "AuthorizationError":
    case "UserAuthenticationExpiredError":
      return {
        code: ErrorCode.PermissionDenied,
        retryable: false,
        hint: "the NATS server refused the credentials; check the user and password or token in the server URL (nats://user:password@host) or natsOptions",
      };
    case "InvalidArgumentError":
    case "InvalidSubjectError":
    case "InvalidNameError":
      return {
        code: ErrorCode.InvalidArgument,
        retryable: false,
        hint: /max_payload/.test(err.message)
          ? "the message is larger than the server's max_payload (1 MiB unless configured); send a smaller one or raise max_payload"
          : undefined,
      };
    case "ClosedConnectionError":
    case "DrainingConnectionError":
      return {
        code: ErrorCode.FailedPrecondition,
        retryable: false,
        hint: "the NATS connection was closed; open the topic or subscription on a connection that is open",
      };
    case "TimeoutError":
      // Unknown lets core name it DeadlineExceeded (its name is TimeoutError) once retries end.
      return { code: ErrorCode.Unknown, retryable: true, hint: "the NATS server did not answer in time" };
    case "NoResponders":
      // A publish or API request nobody answered: JetStream is starting, or no stream listens. The
      // drivers look which it is and throw a final NotFound themselves when no stream covers the subject.
      return {
        code: ErrorCode.Unknown,
        retryable: true,
        hint: "JetStream did not answer: it is starting, or not enabled on the server (nats-server -js)",
      };
    case "ConnectionError":
      return { code: ErrorCode.Unknown, retryable: true, hint: "could not reach the NATS server" };
    case "JetStreamStatusError": {
      const status = (err as { code?: number }).code;
      if (status === 409 && /deleted/i.test(err.message)) {
        return { code: ErrorCode.NotFound, retryable: false, hint: NOT_FOUND_CONSUMER };
      }
      return { code: ErrorCode.Unknown, retryable: true };
    }
  }
  if (isNetworkError(err)) return { code: ErrorCode.Unknown, retryable: true, hint: "the connection to NATS was lost" };
  return undefined;
}

/** The first meaning along the cause chain: a RequestError says nothing itself, its cause does. */
function classify(err: unknown): Meaning | undefined {
  for (const e of chain(err)) {
    const meaning = meaningOf(e);
    if (meaning) return meaning;
  }
  return undefined;
}

/**
 * How nats.js and JetStream errors map to portable ones, for the topic and
 * the subscription drivers alike. A lost connection and a timeout are
 * retried (nats.js reconnects by itself); JetStream API errors map by their
 * `err_code`, then by their status.
 */
export const natsErrors: ErrorClassifier = {
  errorCode: (err) => classify(err)?.code ?? ErrorCode.Unknown,
  isRetryable: (err) => classify(err)?.retryable ?? false,
  hint: (err) => classify(err)?.hint,
};

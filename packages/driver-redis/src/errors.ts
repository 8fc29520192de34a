import { ErrorCode, PubSubError, redactUrl } from "@portable-pubsub/core";

/**
 * Redis error replies start with an upper-case code ("NOGROUP No such key…").
 * This maps the codes a stream driver can meet to portable codes; the hint
 * tells the user how to fix it.
 */
const REPLY_CODES: Record<string, { code: ErrorCode; retryable: boolean; hint: string }> = {
  NOGROUP: {
    code: ErrorCode.NotFound,
    retryable: false,
    hint: "the stream or its consumer group does not exist; create it (XGROUP CREATE STREAM GROUP $ MKSTREAM) or open the subscription with create=true",
  },
  WRONGTYPE: {
    code: ErrorCode.FailedPrecondition,
    retryable: false,
    hint: "the key holds a value that is not a stream; pick another stream name or delete the key",
  },
  NOPERM: {
    code: ErrorCode.PermissionDenied,
    retryable: false,
    hint: "the Redis user lacks a permission; grant the stream commands and keys with ACL SETUSER (for example +@stream ~STREAM)",
  },
  WRONGPASS: {
    code: ErrorCode.PermissionDenied,
    retryable: false,
    hint: "Redis rejected the user name or password of the server URL",
  },
  NOAUTH: {
    code: ErrorCode.PermissionDenied,
    retryable: false,
    hint: "Redis requires a password; put it in the server URL (redis://user:password@host)",
  },
  OOM: {
    code: ErrorCode.ResourceExhausted,
    retryable: false,
    hint: "Redis reached its maxmemory; trim streams (maxLen) or raise maxmemory",
  },
  LOADING: { code: ErrorCode.Unknown, retryable: true, hint: "Redis is loading its data set" },
  BUSY: { code: ErrorCode.Unknown, retryable: true, hint: "Redis is busy running a script" },
  TRYAGAIN: { code: ErrorCode.Unknown, retryable: true, hint: "Redis asked to try again" },
  MASTERDOWN: { code: ErrorCode.Unknown, retryable: true, hint: "the replica lost its master" },
  READONLY: {
    code: ErrorCode.Unknown,
    retryable: true,
    hint: "the server is a read-only replica (a failover in progress?)",
  },
  CLUSTERDOWN: { code: ErrorCode.Unknown, retryable: true, hint: "the cluster is down" },
};

/** Socket-level error codes that mean the connection was lost, not that the request was wrong. */
const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);

/** Messages ioredis uses when a command dies with its connection. */
const CONNECTION_MESSAGES = [
  "Connection is closed",
  "Command aborted due to connection close",
  "Reached the max retries per request limit",
  "Stream isn't writeable",
  "Socket timeout",
  "Command timed out",
];

function replyCode(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const match = /^([A-Z]+)\b/.exec(err.message);
  return match?.[1];
}

/** The error under a PubSubError that this driver made, or `err` itself. */
function unwrap(err: unknown): unknown {
  return err instanceof PubSubError && err.cause !== undefined ? err.cause : err;
}

/** True if `err` means the connection to Redis was lost or not yet made. */
export function isConnectionError(err: unknown): boolean {
  const inner = unwrap(err);
  if (!(inner instanceof Error)) return false;
  const code = (inner as { code?: unknown }).code;
  if (typeof code === "string" && CONNECTION_CODES.has(code)) return true;
  return CONNECTION_MESSAGES.some((m) => inner.message.includes(m));
}

/** Maps an error from ioredis (or one this driver made) to a portable code. */
export function redisErrorCode(err: unknown): ErrorCode {
  if (err instanceof PubSubError) return err.code;
  const known = REPLY_CODES[replyCode(err) ?? ""];
  if (known) return known.code;
  if (err instanceof Error && err.message.includes("Command timed out")) return ErrorCode.DeadlineExceeded;
  return ErrorCode.Unknown;
}

/** True for a lost connection and for replies that mean "try again later". */
export function isRetryableRedisError(err: unknown): boolean {
  if (isConnectionError(err)) return true;
  const inner = unwrap(err);
  return REPLY_CODES[replyCode(inner) ?? ""]?.retryable ?? false;
}

/**
 * Turns an ioredis error into a PubSubError that names the operation and the
 * resource and says how to fix it; the original is its `cause`. A PubSubError
 * passes through unchanged.
 */
export function translateError(err: unknown, operation: string, resource: string): PubSubError {
  if (err instanceof PubSubError) return err;
  const detail = redactUrl(err instanceof Error ? err.message : String(err));
  const known = REPLY_CODES[replyCode(err) ?? ""];
  let hint = known?.hint;
  if (!hint && isConnectionError(err)) hint = "the connection to Redis was lost; it is being re-established";
  return new PubSubError(redisErrorCode(err), `${operation} ${resource}: ${detail}${hint ? ` (${hint})` : ""}`, {
    cause: err,
  });
}

import { type ErrorClassifier, ErrorCode, isNetworkError } from "@portable-pubsub/core/driver";

/**
 * Redis error replies start with an upper-case code ("NOGROUP No such key…").
 * This maps the codes a stream driver can meet to portable codes; the hint
 * tells the user how to fix it.
 */
const REPLY_CODES: Record<string, { code: ErrorCode; retryable: boolean; hint: string }> = {
  NOGROUP: {
    code: ErrorCode.NotFound,
    retryable: false,
    hint: "the stream or its consumer group does not exist; create it (XGROUP CREATE STREAM GROUP $ MKSTREAM) or open the subscription with declare=true",
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
  NOREPLICAS: {
    code: ErrorCode.DeadlineExceeded,
    retryable: true,
    hint: "fewer replicas than the topic's replicas=N confirmed the writes in time; check that they are up and connected to the master (INFO replication)",
  },
  MOVED: {
    code: ErrorCode.Unknown,
    retryable: true,
    hint: "the Redis Cluster moved the stream's slot to another node (a failover?); the client learns the new layout",
  },
  ASK: { code: ErrorCode.Unknown, retryable: true, hint: "the Redis Cluster is migrating the stream's slot" },
  CLUSTERDOWN: { code: ErrorCode.Unknown, retryable: true, hint: "the cluster is down" },
};

/** Messages ioredis uses when a command dies with its connection. */
const CONNECTION_MESSAGES = [
  "Connection is closed",
  "Command aborted due to connection close",
  "Reached the max retries per request limit",
  "Stream isn't writeable",
  "Socket timeout",
  "Command timed out",
];

/**
 * Messages of ioredis's Cluster client while the cluster fails over: it ran
 * out of redirections (MOVED, CLUSTERDOWN) or of nodes to ask for the slots.
 * Retried: the cluster elects a new master within its node timeout.
 */
const CLUSTER_MESSAGES = [
  "Too many Cluster redirections",
  "Failed to refresh slots cache",
  "None of startup nodes is available",
];

function isClusterFailover(err: unknown): boolean {
  return err instanceof Error && CLUSTER_MESSAGES.some((m) => err.message.includes(m));
}

function replyCode(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const match = /^([A-Z]+)\b/.exec(err.message);
  return match?.[1];
}

/** True if `err` means the connection to Redis was lost or not yet made. */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (isNetworkError(err)) return true;
  return CONNECTION_MESSAGES.some((m) => err.message.includes(m));
}

/**
 * How the errors of ioredis map to portable ones, for the topic and the
 * subscription drivers alike. Replies are recognised by their code (see
 * REPLY_CODES); a lost connection is retried, as ioredis re-establishes it.
 */
export const redisErrors: ErrorClassifier = {
  errorCode(err) {
    const known = REPLY_CODES[replyCode(err) ?? ""];
    if (known) return known.code;
    if (err instanceof Error && err.message.includes("Command timed out")) return ErrorCode.DeadlineExceeded;
    return ErrorCode.Unknown;
  },
  isRetryable(err) {
    return isConnectionError(err) || isClusterFailover(err) || (REPLY_CODES[replyCode(err) ?? ""]?.retryable ?? false);
  },
  hint(err) {
    const known = REPLY_CODES[replyCode(err) ?? ""];
    if (known) return known.hint;
    if (err instanceof Error && err.message.startsWith("All sentinels are unreachable")) {
      return "no Sentinel of the redis-sentinel:// server URL answers; check their hosts and ports, and that they run";
    }
    if (isClusterFailover(err)) return "the Redis Cluster is failing over; the client waits for its new layout";
    return isConnectionError(err) ? "the connection to Redis was lost; it is being re-established" : undefined;
  },
};

import { ErrorCode, errorCode, redactUrl } from "@portable-pubsub/core";

/**
 * Exit codes of the `pubsub` command, one per class of failure, so that a
 * script can tell "fix your input" from "create the resource" from "try again".
 */
export const ExitCode = {
  ok: 0,
  /** Unknown or Internal errors. */
  failure: 1,
  /** A bad command line, URL, option or message (InvalidArgument). */
  invalidArgument: 2,
  notFound: 3,
  /** FailedPrecondition or AlreadyExists: the resource is not in a state that allows the operation. */
  failedPrecondition: 4,
  permissionDenied: 5,
  resourceExhausted: 6,
  deadlineExceeded: 7,
  unimplemented: 8,
  /** `bench` finished but messages that the broker confirmed never arrived. */
  messagesLost: 10,
  /** Interrupted (Ctrl-C), like a shell reports SIGINT. */
  canceled: 130,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

const BY_CODE: Record<ErrorCode, ExitCode> = {
  [ErrorCode.OK]: ExitCode.ok,
  [ErrorCode.Unknown]: ExitCode.failure,
  [ErrorCode.Internal]: ExitCode.failure,
  [ErrorCode.InvalidArgument]: ExitCode.invalidArgument,
  [ErrorCode.NotFound]: ExitCode.notFound,
  [ErrorCode.AlreadyExists]: ExitCode.failedPrecondition,
  [ErrorCode.FailedPrecondition]: ExitCode.failedPrecondition,
  [ErrorCode.PermissionDenied]: ExitCode.permissionDenied,
  [ErrorCode.ResourceExhausted]: ExitCode.resourceExhausted,
  [ErrorCode.DeadlineExceeded]: ExitCode.deadlineExceeded,
  [ErrorCode.Unimplemented]: ExitCode.unimplemented,
  [ErrorCode.Canceled]: ExitCode.canceled,
};

/** The exit code for an error of this portable code. */
export function exitCodeFor(code: ErrorCode): ExitCode {
  return BY_CODE[code];
}

/**
 * The one line that the command prints for an error: `pubsub: CODE: message`.
 * Never a stack trace, never a password; only the first line of a multi-line message.
 */
export function errorLine(err: unknown): string {
  const code = errorCode(err);
  const raw = err instanceof Error ? err.message : String(err);
  const firstLine = raw.split("\n", 1)[0]?.trim() || "(no message)";
  return `pubsub: ${code}: ${redactUrl(firstLine)}`;
}

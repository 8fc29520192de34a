import { ErrorCode, errorCode, PubSubError, redactUrl } from "@portable-pubsub/core";

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
  return `pubsub: ${errorCode(err)}: ${errorText(err)}`;
}

/**
 * The first line of an error's message, worded for the command line. A
 * PubSubError's message is printed as it is: the library builds it without
 * credentials already, and redacting it again would mangle the examples it
 * gives (`amqp://guest:guest@localhost:5672`). Any other error is redacted.
 * Advice about the library's `serverUrl` option, which the command does not
 * have, is left out: the command takes the server from the environment.
 */
export function errorText(err: unknown): string {
  const raw = err instanceof Error ? err.message : String(err);
  const firstLine = raw.split("\n", 1)[0]?.trim() || "(no message)";
  const safe = err instanceof PubSubError ? firstLine : redactUrl(firstLine);
  return safe.replace(LIBRARY_ONLY_ADVICE, "");
}

/** " or the serverUrl option" and its variants in the drivers' advice about where the server comes from. */
const LIBRARY_ONLY_ADVICE = /,? or (?:pass )?the serverUrl option/g;

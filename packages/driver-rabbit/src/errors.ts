/**
 * AMQP reply codes and what they mean portably. amqplib puts the broker's
 * reply code on `err.code` (a number) for channel and connection closes, and a
 * Node error code (a string, such as "ECONNREFUSED") on socket errors; errors
 * this driver makes itself are {@link RabbitError}s that carry a reply code.
 */
import { ErrorCode, PubSubError, errorCode as portableCode, redactUrl } from "@portable-pubsub/core";

/** The AMQP 0-9-1 reply codes this driver acts on. */
export const ReplyCode = {
  ConnectionForced: 320,
  NoRoute: 312,
  NoConsumers: 313,
  InvalidPath: 402,
  AccessRefused: 403,
  NotFound: 404,
  ResourceLocked: 405,
  PreconditionFailed: 406,
  FrameError: 501,
  SyntaxError: 502,
  CommandInvalid: 503,
  ChannelError: 504,
  UnexpectedFrame: 505,
  ResourceError: 506,
  NotAllowed: 530,
  NotImplemented: 540,
  InternalError: 541,
} as const;

/** Reply codes that the broker raises about one resource: they close one channel, never the connection. */
const RESOURCE_CODES = new Set<number>([
  ReplyCode.AccessRefused,
  ReplyCode.NotFound,
  ReplyCode.ResourceLocked,
  ReplyCode.PreconditionFailed,
]);

const PORTABLE: Record<number, ErrorCode> = {
  [ReplyCode.NoRoute]: ErrorCode.NotFound,
  [ReplyCode.NoConsumers]: ErrorCode.NotFound,
  [ReplyCode.ConnectionForced]: ErrorCode.Unknown,
  [ReplyCode.InvalidPath]: ErrorCode.NotFound,
  [ReplyCode.AccessRefused]: ErrorCode.PermissionDenied,
  [ReplyCode.NotFound]: ErrorCode.NotFound,
  [ReplyCode.ResourceLocked]: ErrorCode.FailedPrecondition,
  [ReplyCode.PreconditionFailed]: ErrorCode.FailedPrecondition,
  [ReplyCode.FrameError]: ErrorCode.Internal,
  [ReplyCode.SyntaxError]: ErrorCode.Internal,
  [ReplyCode.CommandInvalid]: ErrorCode.Internal,
  [ReplyCode.ChannelError]: ErrorCode.Internal,
  [ReplyCode.UnexpectedFrame]: ErrorCode.Internal,
  [ReplyCode.ResourceError]: ErrorCode.ResourceExhausted,
  [ReplyCode.NotAllowed]: ErrorCode.PermissionDenied,
  [ReplyCode.NotImplemented]: ErrorCode.Unimplemented,
  [ReplyCode.InternalError]: ErrorCode.Internal,
};

/** Reply codes after which trying again, unchanged, can succeed: the broker or the network was the problem. */
const RETRYABLE_CODES = new Set<number>([
  ReplyCode.ConnectionForced,
  ReplyCode.ChannelError,
  ReplyCode.ResourceError,
  ReplyCode.InternalError,
]);

/** Socket errors: the network or the broker is away for now. */
const RETRYABLE_SOCKET_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/** An error this driver raises, with the AMQP reply code it stands for. */
export class RabbitError extends Error {
  override readonly name = "RabbitError";
  /** The AMQP reply code, such as 404, or undefined for errors that have none. */
  readonly replyCode: number | undefined;
  /** The portable code, when the reply code alone does not say it. */
  readonly portable: ErrorCode | undefined;
  readonly retryable: boolean;

  constructor(
    message: string,
    options: { replyCode?: number; portable?: ErrorCode; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.replyCode = options.replyCode;
    this.portable = options.portable;
    this.retryable = options.retryable ?? (options.replyCode !== undefined && RETRYABLE_CODES.has(options.replyCode));
  }
}

/**
 * The AMQP reply code of an error from amqplib or this driver, if it has
 * one. amqplib reports a refused login only in its message
 * ("Handshake terminated by server: 403 (ACCESS-REFUSED)"), so that is read too.
 */
export function replyCodeOf(err: unknown): number | undefined {
  if (err instanceof RabbitError) return err.replyCode;
  if (typeof err !== "object" || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "number") return code;
  const message = (err as { message?: unknown }).message;
  if (typeof message === "string") {
    const handshake = /^Handshake terminated by server: (\d{3})/.exec(message);
    if (handshake) return Number(handshake[1]);
    // A vhost that does not exist, or that the user may not use, closes the connection during connection.open.
    if (message.startsWith("Expected ConnectionOpenOk; got <ConnectionClose")) return ReplyCode.NotAllowed;
  }
  return undefined;
}

/** True for a reply code about one resource (403, 404, 405, 406): the channel dies, the connection lives. */
export function isResourceError(err: unknown): boolean {
  const code = replyCodeOf(err);
  return code !== undefined && RESOURCE_CODES.has(code);
}

/** Maps any error this driver or amqplib raises to a portable code. */
export function rabbitErrorCode(err: unknown): ErrorCode {
  if (err instanceof PubSubError) return err.code;
  if (err instanceof RabbitError && err.portable) return err.portable;
  const code = replyCodeOf(err);
  if (code !== undefined) return PORTABLE[code] ?? ErrorCode.Unknown;
  return portableCode(err);
}

/**
 * Reports whether retrying `err` unchanged may succeed: a forced close (320),
 * a broker-side resource or internal error, or a socket error. Resource
 * errors (403, 404, 405, 406), unroutable returns and nacks are not.
 */
export function isRetryableRabbitError(err: unknown): boolean {
  if (err instanceof RabbitError) return err.retryable;
  if (err instanceof PubSubError) return false;
  const code = replyCodeOf(err);
  if (code !== undefined) return RETRYABLE_CODES.has(code);
  const socketCode = (err as { code?: unknown } | null)?.code;
  return typeof socketCode === "string" && RETRYABLE_SOCKET_CODES.has(socketCode);
}

/** A short phrase for what a reply code means, to put in messages. */
export function describeReply(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/^Channel closed by server: /, "").replace(/^Operation failed: \w+; /, "");
}

/** `err` as a PubSubError whose message starts with `operation`, for errors that reach users outside Topic and Subscription. */
export function toPubSubError(err: unknown, operation: string): PubSubError {
  if (err instanceof PubSubError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new PubSubError(rabbitErrorCode(err), `${operation}: ${redactUrl(detail)}`, { cause: err });
}

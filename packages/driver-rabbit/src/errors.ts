/**
 * What rabbit:// errors mean portably, decided in one place: the
 * {@link rabbitErrors} classifier that the topic and subscription drivers
 * share. amqplib puts the broker's reply code on `err.code` (a number) for
 * channel and connection closes, and a Node error code (a string, such as
 * "ECONNREFUSED") on socket errors; errors the driver makes itself are
 * {@link RabbitError}s. Drivers throw both as they are: core builds the
 * PubSubError the caller sees from the classifier's answers.
 */
import {
  certificateHint,
  type ErrorClassifier,
  ErrorCode,
  isNetworkError,
  errorCode as portableCode,
} from "@portable-pubsub/core/driver";

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

/**
 * What the driver was doing when the broker refused: the same reply code
 * asks for a different fix when connecting, publishing, consuming or
 * declaring (a 403 is a wrong password, a missing write permission, a
 * missing read permission, or a reserved name).
 */
export type RabbitRole = "connect" | "publish" | "consume" | "declare";

/** Options of a {@link RabbitError}. */
export interface RabbitErrorOptions {
  /** The AMQP reply code the error stands for, such as 404. */
  replyCode?: number;
  /** The portable code, when the reply code alone does not say it. */
  portable?: ErrorCode;
  /** Whether the same call may succeed if repeated. Default: decided by the reply code. */
  retryable?: boolean;
  /** What the driver was doing; it picks the hint. */
  role?: RabbitRole;
  /** For connect errors: the vhost the connection asked for. */
  vhost?: string;
  cause?: unknown;
}

/** An error this driver raises: a broker refusal it gave context to, or a condition of its own. */
export class RabbitError extends Error {
  override readonly name = "RabbitError";
  /** The AMQP reply code, such as 404, or undefined for errors that have none. */
  readonly replyCode: number | undefined;
  /** The portable code, when the reply code alone does not say it. */
  readonly portable: ErrorCode | undefined;
  readonly retryable: boolean;
  readonly role: RabbitRole | undefined;
  readonly vhost: string | undefined;

  constructor(message: string, options: RabbitErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.replyCode = options.replyCode;
    this.portable = options.portable;
    this.retryable = options.retryable ?? (options.replyCode !== undefined && RETRYABLE_CODES.has(options.replyCode));
    this.role = options.role;
    this.vhost = options.vhost;
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

/**
 * A broker refusal of `err` as a RabbitError that records `role` (and, for
 * declarations, what was declared in `context`), so that the classifier can
 * pick the hint. The broker's own words stay; amqplib's prefixes go. Errors
 * without a reply code (socket errors, RabbitErrors) are returned as they are.
 */
export function refusal(err: unknown, role: RabbitRole, context?: string): unknown {
  const replyCode = replyCodeOf(err);
  if (replyCode === undefined || err instanceof RabbitError) return err;
  const message = (err instanceof Error ? err.message : String(err))
    .replace(/^Channel closed by server: /, "")
    .replace(/^Operation failed: \w+; /, "");
  return new RabbitError(context ? `${context}: ${message}` : message, { replyCode, role, cause: err });
}

type Hints = Partial<Record<number, string>>;

/** What the user can do about a refusal, by role and reply code. */
const HINTS: Record<RabbitRole, Hints> = {
  connect: { [ReplyCode.AccessRefused]: "check the user name and password in the server URL" },
  publish: {
    [ReplyCode.NotFound]: "create it, or open the topic with declare=true",
    [ReplyCode.AccessRefused]: "the user lacks write permission on it",
    [ReplyCode.NoRoute]:
      "no queue is bound to receive it: bind a queue to the exchange, or open a subscription first; for a dead-letter topic, add declare=true to its URL, which declares a queue of its name bound to receive every dead letter",
    [ReplyCode.NoConsumers]: "bind a queue to the exchange, or open a subscription first",
  },
  consume: {
    [ReplyCode.NotFound]: "create it (and bind it to an exchange), or open the subscription with declare=true",
    [ReplyCode.AccessRefused]: "the user lacks read permission on it",
    [ReplyCode.ResourceLocked]: "another connection consumes it exclusively",
  },
  declare: {
    [ReplyCode.PreconditionFailed]:
      "it exists with other settings (type or durability): match them, or delete it first",
    [ReplyCode.AccessRefused]: "the user lacks configure permission (names starting with amq. are reserved)",
  },
};

function connectHint(err: RabbitError): string {
  if (err.replyCode === ReplyCode.NotAllowed) {
    return `the vhost "${err.vhost ?? "/"}" does not exist or the user may not use it`;
  }
  return (
    HINTS.connect[err.replyCode ?? 0] ??
    certificateHint(err) ??
    "is RabbitMQ running and reachable there? Set RABBIT_SERVER_URL or the serverUrl option"
  );
}

/**
 * How rabbit:// errors map to portable codes, retries and hints; shared by
 * RabbitTopicDriver and RabbitSubscriptionDriver.
 *
 * | AMQP | code | retryable |
 * |---|---|---|
 * | 404, 312, 313, 402 | NotFound | no |
 * | 403, 530 | PermissionDenied | no |
 * | 405, 406 | FailedPrecondition | no |
 * | 320 | Unknown | yes |
 * | 506 | ResourceExhausted | yes |
 * | 504, 541 | Internal | yes |
 * | socket errors (ECONNREFUSED, ECONNRESET, …) | Unknown | yes |
 */
export const rabbitErrors: Required<ErrorClassifier> = {
  errorCode(err) {
    if (err instanceof RabbitError && err.portable) return err.portable;
    const code = replyCodeOf(err);
    if (code !== undefined) return PORTABLE[code] ?? ErrorCode.Unknown;
    return portableCode(err);
  },
  isRetryable(err) {
    if (err instanceof RabbitError) return err.retryable;
    const code = replyCodeOf(err);
    if (code !== undefined) return RETRYABLE_CODES.has(code);
    return isNetworkError(err);
  },
  hint(err) {
    if (!(err instanceof RabbitError) || !err.role) return undefined;
    if (err.role === "connect") return connectHint(err);
    return err.replyCode === undefined ? undefined : HINTS[err.role][err.replyCode];
  },
};

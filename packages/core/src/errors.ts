import { leadingScheme } from "./url-scheme.js";

/**
 * Portable error codes, as in the Go CDK's gcerrors. Every error that the
 * portable API returns is a {@link PubSubError} carrying one of these.
 */
export const ErrorCode = {
  OK: "OK",
  Unknown: "Unknown",
  NotFound: "NotFound",
  AlreadyExists: "AlreadyExists",
  InvalidArgument: "InvalidArgument",
  Internal: "Internal",
  Unimplemented: "Unimplemented",
  FailedPrecondition: "FailedPrecondition",
  PermissionDenied: "PermissionDenied",
  ResourceExhausted: "ResourceExhausted",
  Canceled: "Canceled",
  DeadlineExceeded: "DeadlineExceeded",
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * The one error class of portable-pubsub. `code` is portable; `cause` holds the
 * driver's own error, when there is one, for code that needs broker detail
 * (see {@link errorAs}).
 */
export class PubSubError extends Error {
  override readonly name = "PubSubError";
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * Returns the portable code of any value: a PubSubError's code, `Canceled` for
 * an AbortError, `Unknown` otherwise.
 */
export function errorCode(err: unknown): ErrorCode {
  if (err instanceof PubSubError) return err.code;
  if (err instanceof Error && (err.name === "AbortError" || err.name === "TimeoutError")) {
    return err.name === "TimeoutError" ? ErrorCode.DeadlineExceeded : ErrorCode.Canceled;
  }
  return ErrorCode.Unknown;
}

/**
 * Walks the `cause` chain of `err` and returns the first error that is an
 * instance of `type`, like the Go CDK's ErrorAs: the way to the driver's own
 * error (an amqplib error, a gRPC status, a Redis reply) without losing
 * portability elsewhere.
 */
export function errorAs<T>(err: unknown, type: abstract new (...args: never[]) => T): T | undefined {
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 16; depth++) {
    if (current instanceof type) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Returns an InvalidArgument error with `message` (for the caller to throw). A small helper for validation code. */
export function invalidArgument(message: string, cause?: unknown): PubSubError {
  return new PubSubError(ErrorCode.InvalidArgument, message, cause === undefined ? undefined : { cause });
}

/** The error of an operation whose AbortSignal fired. */
export function canceledError(operation: string, signal?: AbortSignal): PubSubError {
  const reason: unknown = signal?.reason;
  const timedOut = reason instanceof Error && reason.name === "TimeoutError";
  return new PubSubError(
    timedOut ? ErrorCode.DeadlineExceeded : ErrorCode.Canceled,
    `${operation}: ${timedOut ? "deadline exceeded" : "canceled"} by its AbortSignal`,
    reason === undefined ? undefined : { cause: reason },
  );
}

/**
 * Removes credentials from anything that looks like a URL, for messages and
 * logs: the user information of `scheme://user:password@host` (up to the
 * last "@" before the next ordinary space, so a password holding "/", "@",
 * a tab, a line break, another Unicode space, a control or an invisible
 * format character goes too) and the value of `password=`, `token=` and the
 * like in a query. Runs in time linear in the length of `text`, whatever it
 * holds.
 */
export function redactUrl(text: string): string {
  return redactQuerySecrets(redactLooseUserInfo(redactUserInfo(text)));
}

/**
 * Describes text that failed to parse as a URL, for an error message: where
 * its user information ends cannot be told (a password may hold a space, a
 * "/", a "?", a "#" or an "@"), so everything up to its last "@" is removed,
 * even one in what looks like the query; the query is not shown. Never
 * attach the parser's own error as a cause: Node's keeps the whole input.
 */
export function redactUnparsedUrl(text: string): string {
  const at = text.lastIndexOf("@");
  const name = leadingScheme(text);
  const scheme = name === undefined ? "" : text.startsWith("//", name.length + 1) ? `${name}://` : `${name}:`;
  const kept = at === -1 ? text : `${scheme}***${text.slice(at)}`;
  const query = kept.search(/[?#]/);
  return redactUrl(query === -1 ? kept : kept.slice(0, query));
}

function redactUserInfo(text: string): string {
  let out = "";
  let copied = 0;
  let space = -1;
  let marker = nextMarker(text, 0);
  while (marker !== undefined) {
    const start = marker.end;
    const next = nextMarker(text, start);
    // The next space is looked up again only once passed, so the whole scan stays linear.
    if (space < start) space = nextSpace(text, start);
    const end = Math.min(next === undefined ? text.length : next.index, space);
    let at = end - 1;
    while (at >= start && text.charCodeAt(at) !== AT) at--;
    if (at >= start) {
      out += `${text.slice(copied, start)}***`;
      copied = at;
    }
    marker = next;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/**
 * "://", also with tabs and line breaks in it, which URL parsing drops
 * (`amqp:\t//user:pw@host` is a URL with a password).
 */
const MARKER = /:[\t\n\r]*\/[\t\n\r]*\//g;

function nextMarker(text: string, from: number): { index: number; end: number } | undefined {
  MARKER.lastIndex = from;
  const match = MARKER.exec(text);
  return match ? { index: match.index, end: match.index + match[0].length } : undefined;
}

const AT = 0x40;
const SLASH = 0x2f;

/**
 * Where a token of a message ends: an ordinary space and the quotes that
 * messages put around names. Not a tab, a line break or another space: a
 * password may hold one, and URL parsing keeps it.
 */
const TOKEN_END = new Set([..." \"'`<>()[]"].map((c) => c.charCodeAt(0)));

/**
 * The user information of URL forms without "//" (`mem:user:pw@t`,
 * `user:pw@host:5672`): anything before an "@" in the same token, after an
 * optional `scheme:`. An address like `a@b` is redacted too; better a
 * redacted address than a password in a log. One pass, linear.
 */
function redactLooseUserInfo(text: string): string {
  if (!text.includes("@")) return text;
  let out = "";
  let copied = 0;
  let tokenStart = 0;
  let lastDoubleSlash = -1;
  let pos = 0;
  for (let at = text.indexOf("@"); at !== -1; at = text.indexOf("@", at + 1)) {
    for (; pos < at; pos++) {
      const c = text.charCodeAt(pos);
      if (TOKEN_END.has(c)) tokenStart = pos + 1;
      else if (c === SLASH && pos > 0 && text.charCodeAt(pos - 1) === SLASH) lastDoubleSlash = pos;
    }
    const start = Math.max(tokenStart, copied);
    // Nothing before it, already redacted, or a URL with "//", which redactUserInfo has seen to.
    if (start === at || lastDoubleSlash > start || (at - 3 >= start && text.startsWith("***", at - 3))) continue;
    const scheme = leadingScheme(text.slice(start, Math.min(at, start + 64)));
    out += `${text.slice(copied, start + (scheme === undefined ? 0 : scheme.length + 1))}***`;
    copied = at;
  }
  return copied === 0 ? text : out + text.slice(copied);
}
/** The next ordinary space: where the user information of a URL in a message must end. */
function nextSpace(text: string, from: number): number {
  const space = text.indexOf(" ", from);
  return space === -1 ? text.length : space;
}

/** A secret's value runs to the next parameter, fragment or ordinary space, whatever else it holds. */
const QUERY_SECRET = /([?&;](?:password|passwd|pass|pwd|token|secret|access_token|auth)=)[^&;# ]*/gi;

function redactQuerySecrets(text: string): string {
  return text.includes("=") ? text.replace(QUERY_SECRET, "$1***") : text;
}

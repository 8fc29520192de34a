/**
 * Node's socket error codes that mean the network or the broker is away for
 * now, not that the request was wrong: what every broker driver retries.
 */
const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/**
 * True if `err` is a socket error (its `code` is one of Node's network error
 * codes, such as ECONNREFUSED or ECONNRESET): the connection was lost or not
 * made, and the same call may succeed once it is back. Drivers use it in
 * their `ErrorClassifier.isRetryable`.
 */
export function isNetworkError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === "string" && NETWORK_ERROR_CODES.has(code);
}

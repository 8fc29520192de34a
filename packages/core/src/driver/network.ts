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

/**
 * How long opening a Topic or Subscription waits for its broker, in ms, on
 * every driver: the default of each driver's `connectTimeoutMs` option.
 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * Node's TLS error codes that mean the client refused the server's
 * certificate: not trusted, expired, or issued for another name.
 */
const CERTIFICATE_ERROR_CODES: ReadonlySet<string> = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_SIGNATURE_FAILURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/**
 * True if `err`, or an error in its `cause` chain, is Node's refusal of a
 * server's TLS certificate (self-signed, an unknown CA, expired, another
 * host name). Retrying will not help: the trust settings or the address must
 * change.
 */
export function isCertificateError(err: unknown): boolean {
  return certificateErrorOf(err) !== undefined;
}

/**
 * What to do about a refused certificate, naming Node's code, or undefined
 * when `err` is no such refusal. Drivers' hints and the portable layer use it.
 */
export function certificateHint(err: unknown): string | undefined {
  const code = certificateErrorOf(err);
  if (code === undefined) return undefined;
  const fix =
    code === "ERR_TLS_CERT_ALTNAME_INVALID"
      ? "connect by a host name that the certificate names"
      : "give the client the CA certificate that signed the server's (the driver's TLS ca option)";
  return `the server's TLS certificate was refused (${code}); ${fix}`;
}

function certificateErrorOf(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && CERTIFICATE_ERROR_CODES.has(code)) return code;
  }
  return undefined;
}

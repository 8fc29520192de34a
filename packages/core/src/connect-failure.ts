/**
 * The errors of an open that could not reach its broker, built here once for
 * every driver: they name the broker, its address (never with credentials),
 * the client's own error, and what to do.
 */
import type { DriverBase, DriverServer } from "./driver/driver.js";
import { certificateHint, isCertificateError, isNetworkError } from "./driver/network.js";
import { ErrorCode, PubSubError, redactUrl } from "./errors.js";

/**
 * The error of an open whose driver was not ready within
 * `server.connectTimeoutMs`: DeadlineExceeded. `connected` says whether the
 * connection was made (the broker then did not answer the resource check in
 * time); `lastError` is the connection's latest error, if any.
 */
export function openTimedOut(
  driver: DriverBase,
  server: DriverServer,
  connected: boolean,
  lastError: Error | undefined,
): PubSubError {
  const { broker, address, connectTimeoutMs: ms } = server;
  const what = connected
    ? `${broker} at ${address} did not finish opening it within ${ms} ms`
    : `could not connect to ${broker} at ${address} within ${ms} ms`;
  const last = lastError ? ` (last error: ${lastError.message})` : "";
  const hint =
    certificateHint(lastError) ??
    (connected
      ? "the broker is slow or overloaded; raise the connectTimeoutMs option if it is expected"
      : `is ${broker} running and reachable there? A slow link may need a larger connectTimeoutMs option`);
  return new PubSubError(ErrorCode.DeadlineExceeded, redactUrl(`open ${driver.resource}: ${what}${last}; ${hint}`), {
    ...(lastError ? { cause: lastError } : {}),
  });
}

/**
 * The error of an open whose driver's `ready` rejected with `err`, when `err`
 * is the client's socket or TLS error: it then names the broker and address,
 * which a bare "connect ECONNREFUSED" does not. Undefined for any other
 * error, which the driver's classifier maps as usual.
 */
export function connectFailure(driver: DriverBase, server: DriverServer, err: unknown): PubSubError | undefined {
  if (!(err instanceof Error) || !(isNetworkError(err) || isCertificateError(err))) return undefined;
  const { broker, address } = server;
  const hint =
    certificateHint(err) ??
    `is ${broker} running and reachable there? (check the server URL: its host, port and scheme)`;
  const code = driver.errors?.errorCode(err) ?? ErrorCode.Unknown;
  return new PubSubError(
    code,
    redactUrl(`open ${driver.resource}: cannot connect to ${broker} at ${address}: ${err.message}; ${hint}`),
    { cause: err },
  );
}

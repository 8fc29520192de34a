import { ErrorCode, errorCode, PubSubError, redactUrl } from "../errors.js";
import type { DriverBase } from "./driver.js";

/**
 * Builds the one PubSubError for an error a driver threw during `operation`
 * (a verb phrase: "send to", "receive from", "ack", "open"): the message
 * names the operation and the driver's resource, then the error's own text
 * (credentials removed) and the driver's hint; the code is the driver's
 * mapping; the original error is the `cause`. A PubSubError (the driver's
 * own validation, a cancellation) passes through unchanged.
 *
 * Not for a driver's TopicDriver or SubscriptionDriver, which throw their
 * errors as they are: the portable layer calls it for them. It is exported
 * for code of a driver package that runs with no Topic or Subscription
 * around it (a `declare` or `migrate` helper the application calls
 * directly), and for tools built on core.
 */
export function toPubSubError(driver: DriverBase, err: unknown, operation: string): PubSubError {
  if (err instanceof PubSubError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  const hint = driver.errors?.hint?.(err);
  const code = driverErrorCode(driver, err);
  const message = `${operation} ${driver.resource}: ${redactUrl(detail)}${hint ? `; ${redactUrl(hint)}` : ""}`;
  return new PubSubError(code, message, { cause: err });
}

/** The portable code of an error a driver threw or reported: the driver's mapping, else `errorCode`'s. */
export function driverErrorCode(driver: DriverBase, err: unknown): ErrorCode {
  if (err instanceof PubSubError) return err.code;
  const mapped = driver.errors?.errorCode(err) ?? ErrorCode.Unknown;
  // An AbortError or TimeoutError from the client is still Canceled or DeadlineExceeded.
  return mapped === ErrorCode.Unknown ? errorCode(err) : mapped;
}

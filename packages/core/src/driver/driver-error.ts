import type { ErrorCode } from "../errors.js";

/** How a {@link DriverError} is to be treated, beyond its portable code. */
export interface DriverErrorOptions {
  /** Whether the same operation may succeed if tried again. Default false. */
  readonly retryable?: boolean;
  /** What the user should do about it, in a phrase; the portable layer appends it to the message. */
  readonly hint?: string;
  /** The broker's or client library's error that this one explains. */
  readonly cause?: unknown;
}

/**
 * An error a driver makes itself for a condition it detects (a missing
 * stream, a closed driver, a lost connection), carrying its portable code
 * and how it is to be treated. A driver throws it as it is, like any error
 * of its client library: its `ErrorClassifier` must map a DriverError
 * to `code`, `options.retryable` and `options.hint`, and the portable layer
 * builds the PubSubError the caller sees. A driver should not build a
 * PubSubError for a broker condition: that would bypass its classifier.
 */
export class DriverError extends Error {
  override readonly name: string = "DriverError";

  /**
   * `message` says what happened, without credentials; `code` is its
   * portable code.
   */
  constructor(
    message: string,
    readonly code: ErrorCode,
    readonly options: DriverErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }
}

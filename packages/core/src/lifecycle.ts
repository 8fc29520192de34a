import type { DriverBase } from "./driver/driver.js";
import { ErrorCode, PubSubError, redactUrl } from "./errors.js";
import { type Health, type HealthSource, HealthTracker } from "./health.js";

/**
 * Error wrapping and health shared by Topic and Subscription: both turn
 * driver errors into PubSubErrors the same way and report health the same way.
 */
export class DriverLifecycle {
  readonly health = new HealthTracker("ready");
  readonly #driver: DriverBase;
  readonly #unsubscribe: (() => void) | undefined;
  #closedError: PubSubError | undefined;

  constructor(driver: DriverBase) {
    this.#driver = driver;
    const source: HealthSource | undefined = driver.health;
    if (source) {
      const mirror = (h: Health) => {
        this.health.set(h.state, h.lastError);
        this.health.setBlocked(h.blocked);
      };
      mirror(source.current());
      this.#unsubscribe = source.onChange(mirror);
    }
  }

  get closed(): boolean {
    return this.#closedError !== undefined;
  }

  /** Marks the object shut down; later calls fail with FailedPrecondition naming `what`. */
  markClosed(what: string): void {
    this.#closedError ??= new PubSubError(
      ErrorCode.FailedPrecondition,
      `${what} (${this.#driver.resource}) has been shut down; open a new one`,
    );
  }

  /** Throws FailedPrecondition if shut down. */
  assertOpen(operation: string): void {
    if (this.#closedError) {
      throw new PubSubError(ErrorCode.FailedPrecondition, `${operation}: ${this.#closedError.message}`);
    }
  }

  /** Turns whatever the driver threw into a PubSubError naming the operation and resource. */
  wrap(err: unknown, operation: string): PubSubError {
    if (err instanceof PubSubError) return err;
    const detail = err instanceof Error ? err.message : String(err);
    return new PubSubError(this.#driver.errorCode(err), `${operation} ${this.#driver.resource}: ${redactUrl(detail)}`, {
      cause: err,
    });
  }

  finish(): void {
    this.#unsubscribe?.();
    this.health.set("closed");
  }
}

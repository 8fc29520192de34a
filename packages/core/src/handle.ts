import { connectFailure, openTimedOut } from "./connect-failure.js";
import { raceSignal, throwIfAborted } from "./driver/abort.js";
import type { DriverBase } from "./driver/driver.js";
import { driverErrorCode, toPubSubError } from "./driver/error-mapping.js";
import { type Health, HealthTracker } from "./driver/health.js";
import { ErrorCode, errorCode, PubSubError, redactUrl } from "./errors.js";
import { checkSignal } from "./portable-options.js";
import { Instruments } from "./telemetry/instruments.js";
import { HealthLog, type Logger, writeLog } from "./telemetry/logger.js";

/** The options DriverHandle takes from Topic and Subscription options. */
interface HandleOptions {
  shutdownTimeoutMs?: number;
  logger?: Logger;
  tracing?: { propagate?: boolean };
}

/** Options of one call. */
export interface CallOptions {
  /** Cancels the call: it then rejects with Canceled (DeadlineExceeded for `AbortSignal.timeout`). */
  signal?: AbortSignal;
}

/**
 * What Topic and Subscription share: their driver, health reporting, error
 * wrapping, native access and the shutdown-once state.
 */
export abstract class DriverHandle<D extends DriverBase> {
  protected readonly driver: D;
  readonly #health: HealthTracker;
  /** Set when shutdown starts: from then on the state is `draining` until `closed`, whatever the driver reports. */
  #draining = false;
  readonly #unsubscribe: (() => void) | undefined;
  readonly #kind: string;
  #closedError: PubSubError | undefined;
  #shutdown: Promise<void> | undefined;

  readonly #shutdownTimeoutMs: number;
  /** Spans and metrics of this object. */
  protected readonly instruments: Instruments;
  readonly #stopGauge: () => void;
  readonly #stopNotices: (() => void) | undefined;

  protected constructor(driver: D, kind: "topic" | "subscription", options: HandleOptions) {
    this.driver = driver;
    this.#kind = kind;
    this.#health = new HealthTracker("ready", (err) => driverErrorCode(driver, err));
    this.#shutdownTimeoutMs = options.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
    // Without propagation on purpose, a missing propagator is no news to the logger.
    this.instruments = new Instruments(driver, options.tracing?.propagate === false ? undefined : options.logger);
    const log = options.logger ? new HealthLog(options.logger, driver.resource) : undefined;
    const source = driver.health;
    if (source) {
      const mirror = (h: Health) => {
        if (h.state === "ready" && this.#health.current().state === "reconnecting") this.instruments.reconnected();
        if (this.#draining) {
          // A driver that reconnects during a shutdown must not make an object that is leaving look ready, and the
          // connection that the shutdown itself closes is no news: only a new error is.
          this.#health.set("draining", h.lastError, h.endpoint ?? this.#health.current().endpoint);
        } else {
          this.#health.set(h.state, h.lastError, h.endpoint);
        }
        this.#health.setBlocked(h.blocked);
      };
      mirror(source.current());
      this.#unsubscribe = source.onChange(mirror);
    }
    if (log) {
      log.observe(this.#health.current());
      this.#health.onChange((h) => log.observe(h));
    }
    const logger = options.logger;
    const stopNotices =
      logger &&
      driver.notices?.onNotice((notice) =>
        writeLog(logger, notice.level, {
          event: notice.event,
          resource: driver.resource,
          message: `${driver.resource}: ${redactUrl(notice.message)}`,
          ...notice.fields,
        }),
      );
    this.#stopNotices = stopNotices || undefined;
    this.#stopGauge = this.instruments.observeHealth(() => this.#health.current().state);
  }

  /**
   * The health of the connection, as the driver reports it; `draining` from
   * the moment `shutdown()` starts until it has finished, then `closed`.
   */
  get health(): Health {
    return this.#health.current();
  }

  /** Calls `listener` whenever `health` changes; returns a function that stops it. */
  onHealthChange(listener: (health: Health) => void): () => void {
    return this.#health.onChange(listener);
  }

  /** The driver's own object (an amqplib channel, a Pub/Sub client object, an ioredis client), typed by the caller. */
  as<T>(): T {
    return this.driver.native?.() as T;
  }

  /** Shuts down once; calling it again returns the first call's promise. See the subclass for what it does. */
  shutdown(options?: CallOptions): Promise<void> {
    if (this.#shutdown) return this.#shutdown;
    let signal: AbortSignal | undefined;
    try {
      signal = checkSignal(options, "shutdown");
    } catch (err) {
      return Promise.reject(err);
    }
    this.#draining = true;
    this.#health.set("draining", undefined, this.#health.current().endpoint);
    if (signal) {
      this.#shutdown = this.doShutdown(signal);
    } else {
      // Without a signal of the caller's, shutdown is bounded all the same: a service stopping during
      // an outage must not hang. Past the deadline, what is pending fails, and shutdown resolves.
      const deadline = AbortSignal.timeout(this.#shutdownTimeoutMs);
      this.#shutdown = this.doShutdown(deadline).catch((err: unknown) => {
        if (!deadline.aborted || errorCode(err) !== ErrorCode.DeadlineExceeded) throw err;
      });
    }
    return this.#shutdown;
  }

  /** `await using` support: shuts down, bounded by the `shutdownTimeoutMs` option. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  /** Flushes, then closes the driver; `signal` is the caller's, or the `shutdownTimeoutMs` deadline. */
  protected abstract doShutdown(signal: AbortSignal): Promise<void>;

  protected get closed(): boolean {
    return this.#closedError !== undefined;
  }

  /** Marks the object shut down; later calls fail with FailedPrecondition. */
  protected markClosed(): void {
    this.#closedError ??= new PubSubError(
      ErrorCode.FailedPrecondition,
      `${this.#kind} (${this.driver.resource}) has been shut down; open a new one`,
    );
  }

  /** Throws FailedPrecondition if shut down. */
  protected assertOpen(operation: string): void {
    if (this.#closedError) {
      throw new PubSubError(ErrorCode.FailedPrecondition, `${operation}: ${this.#closedError.message}`);
    }
  }

  /** Turns whatever the driver threw into the one PubSubError the caller sees; see {@link toPubSubError}. */
  protected wrap(err: unknown, operation: string): PubSubError {
    return toPubSubError(this.driver, err, operation);
  }

  /** Whether the driver says `err` is worth retrying unchanged; a PubSubError never is. */
  protected isRetryable = (err: unknown): boolean =>
    !(err instanceof PubSubError) && (this.driver.errors?.isRetryable(err) ?? false);

  /**
   * Resolves once the driver can do its work (see `DriverBase.ready`):
   * connected, and its resource found or declared. `openTopic` and
   * `openSubscription` wait for it already; code that builds a Topic or
   * Subscription from a driver's direct constructor may wait for it to fail
   * early on a wrong URL or a missing resource. Rejects with the driver's
   * error as a PubSubError, with DeadlineExceeded naming the broker once the
   * driver's connect timeout (`connectTimeoutMs`, 10 s by default) has
   * passed, or with Canceled when `signal` fires.
   */
  async ready(options?: CallOptions): Promise<void> {
    const signal = checkSignal(options, "ready");
    this.assertOpen("ready");
    if (!this.driver.ready) return;
    throwIfAborted(signal, "open");
    const server = this.driver.server;
    const timeout = server ? AbortSignal.timeout(server.connectTimeoutMs) : undefined;
    const bound = timeout ? (signal ? AbortSignal.any([signal, timeout]) : timeout) : signal;
    try {
      await raceSignal(this.driver.ready(bound ?? NEVER), bound, "open");
    } catch (err) {
      if (!server) throw this.wrap(err, "open");
      if (timeout?.aborted && !signal?.aborted) {
        const health = this.#health.current();
        throw openTimedOut(this.driver, server, health.state === "ready", health.lastError);
      }
      throw connectFailure(this.driver, server, err) ?? this.wrap(err, "open");
    }
  }

  /** Closes the driver, whatever happened before, and reports `closed`. */
  protected async closeDriver(signal: AbortSignal): Promise<void> {
    try {
      await this.driver.close(signal);
    } catch (err) {
      throw this.wrap(err, "shutdown");
    } finally {
      this.#unsubscribe?.();
      this.#stopNotices?.();
      this.#health.set("closed");
      this.#stopGauge();
    }
  }
}

/** How long a shutdown without a signal may take before what is pending fails; see `shutdownTimeoutMs`. */
const DEFAULT_SHUTDOWN_TIMEOUT_MS = 30_000;

/** A signal that never fires, for drivers' calls made without one. */
const NEVER = new AbortController().signal;

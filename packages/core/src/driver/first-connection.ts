import { ErrorCode } from "../errors.js";
import { raceSignal } from "./abort.js";
import { DriverError } from "./driver-error.js";

/** What a {@link FirstConnection} needs: how to make one attempt, and what to do with its outcome. */
export interface FirstConnectionOptions<C> {
  /**
   * Makes one connection attempt. It must reject with the client's error at
   * the first failure (refused, a refused TLS certificate, bad credentials),
   * not retry until a timeout; for a client that connects in the background
   * and reports by events, resolve on its first "connected" event and reject
   * on its first "error" event.
   */
  open(): Promise<C>;
  /** Called once with the connection an attempt made (to watch its status, say), before callers get it. */
  connected?(connection: C): void;
  /**
   * The error the callers of a failed attempt get, from the client's (one
   * that names the server, with a hint), and where to report it (health).
   * Default: the client's error as it is.
   */
  failed?(err: unknown): unknown;
  /** Disposes of a connection that an attempt made after `close`. Default: nothing. */
  dispose?(connection: C): unknown;
  /**
   * Fails the callers of an attempt that has not settled after this many ms
   * with DeadlineExceeded, for a client without a connect timeout of its
   * own (the attempt goes on, and a connection it makes later is kept).
   * Default: no bound here (the client's own, or core's bound on `ready`).
   */
  timeoutMs?: number;
}

/**
 * The gate every push-style driver puts before its first connection: one
 * attempt at a time, shared by every caller (`ready`, the first send, the
 * first receive), that gives each the connection once made, or fails them
 * all with the first connect error, within the connect timeout, rather
 * than retrying until core's bound on `ready` runs out. After a failed
 * attempt the next call makes a new one. After `close`, every call fails
 * with FailedPrecondition, and a connection that arrives then is disposed
 * of. What happens after the first connection (reconnects) is the client's.
 */
export class FirstConnection<C> {
  readonly #options: FirstConnectionOptions<C>;
  #connection: C | undefined;
  #attempt: Promise<C> | undefined;
  #closed = false;

  constructor(options: FirstConnectionOptions<C>) {
    this.#options = options;
  }

  /** The connection once made, else undefined. */
  get current(): C | undefined {
    return this.#connection;
  }

  /**
   * The connection: at once once made, else after the attempt under way or
   * a new one. Rejects with the attempt's error (as `failed` gives it), with
   * DeadlineExceeded after `timeoutMs`, with Canceled when `signal` fires
   * (the attempt goes on for other callers), and with FailedPrecondition
   * after `close`.
   */
  get(signal?: AbortSignal, operation = "open"): Promise<C> {
    if (this.#closed) return Promise.reject(closedError());
    if (this.#connection !== undefined) return Promise.resolve(this.#connection);
    this.#attempt ??= this.#start();
    return raceSignal(this.#bounded(this.#attempt), signal, operation);
  }

  /** Fails every later call; a connection that arrives from now on is disposed of. The caller closes `current`. */
  close(): void {
    this.#closed = true;
  }

  #start(): Promise<C> {
    const options = this.#options;
    const attempt = options.open().then(
      (connection) => {
        this.#attempt = undefined;
        if (this.#closed) {
          void Promise.resolve()
            .then(() => options.dispose?.(connection))
            .catch(() => {});
          throw closedError();
        }
        this.#connection = connection;
        options.connected?.(connection);
        return connection;
      },
      (err: unknown) => {
        this.#attempt = undefined;
        throw options.failed ? options.failed(err) : err;
      },
    );
    attempt.catch(() => {});
    return attempt;
  }

  #bounded(attempt: Promise<C>): Promise<C> {
    const ms = this.#options.timeoutMs;
    if (ms === undefined) return attempt;
    return new Promise<C>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new DriverError(`no connection within the connect timeout (${ms} ms)`, ErrorCode.DeadlineExceeded)),
        ms,
      );
      attempt.then(resolve, reject).finally(() => clearTimeout(timer));
    });
  }
}

function closedError(): DriverError {
  return new DriverError("the driver was closed", ErrorCode.FailedPrecondition);
}

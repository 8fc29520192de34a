import { type ErrorCode, errorCode, redactUrl } from "../errors.js";

/**
 * Connection health of a Topic or Subscription, for a service's /health
 * endpoint and its logs. `draining` is the portable layer's own: it runs
 * from the moment `shutdown()` (or `await using`) starts until it ends,
 * when the state becomes `closed`, and a readiness probe must treat it as
 * not ready. Drivers report the other states of their connection.
 */
export type HealthState = "connecting" | "ready" | "reconnecting" | "draining" | "closed";

/** A Topic's or Subscription's connection health: its state, the last error, since when, and any publish block. */
export interface Health {
  readonly state: HealthState;
  /** The error that caused the latest loss of connection, if any. */
  readonly lastError: Error | undefined;
  /** When `state` last changed. */
  readonly since: Date;
  /** Set while the broker refuses publishes (a RabbitMQ memory or disk alarm): its reason. */
  readonly blocked: string | undefined;
  /**
   * Where the connection is, for drivers that know: the server (one node of
   * a cluster, without credentials) it is connected to. Undefined while not
   * connected, or where the driver does not say.
   */
  readonly endpoint?: string | undefined;
  /**
   * What `JSON.stringify(health)` writes, for a /health endpoint or a log:
   * see {@link HealthJSON}. Returns a new plain object that holds no
   * credential.
   */
  toJSON(): HealthJSON;
}

/** The JSON form of a {@link Health}. */
export interface HealthJSON {
  state: HealthState;
  /** `since`, in ISO 8601. */
  since: string;
  /** The broker's reason for blocking publishes, or null. */
  blocked: string | null;
  /** Where the connection is; absent where unknown. */
  endpoint?: string;
  /** The latest connection error: its portable code and its message without credentials; null if none. */
  lastError: { code: ErrorCode; message: string } | null;
}

/** How a tracker tells the portable code of a connection error; `errorCode` unless its owner knows better. */
export type HealthErrorCode = (err: Error) => ErrorCode;

/** One immutable health report; its prototype gives it `toJSON`. */
class HealthReport implements Health {
  readonly state: HealthState;
  readonly lastError: Error | undefined;
  readonly since: Date;
  readonly blocked: string | undefined;
  readonly endpoint?: string | undefined;
  readonly #codeOf: HealthErrorCode;

  constructor(fields: Omit<Health, "toJSON">, codeOf: HealthErrorCode) {
    this.state = fields.state;
    this.lastError = fields.lastError;
    this.since = fields.since;
    this.blocked = fields.blocked;
    if (fields.endpoint !== undefined) this.endpoint = fields.endpoint;
    this.#codeOf = codeOf;
  }

  toJSON(): HealthJSON {
    const err = this.lastError;
    return {
      state: this.state,
      since: this.since.toISOString(),
      blocked: this.blocked === undefined ? null : redactUrl(this.blocked),
      ...(this.endpoint === undefined ? {} : { endpoint: redactUrl(this.endpoint) }),
      lastError: err === undefined ? null : { code: this.#codeOf(err), message: redactUrl(err.message) },
    };
  }
}

/** A source of health reports, as drivers expose it. */
export interface HealthSource {
  /** The current health. */
  current(): Health;
  /** Calls `listener` on every change until the returned function is called. */
  onChange(listener: (health: Health) => void): () => void;
}

/**
 * A HealthSource that its owner sets. Drivers use it to report their
 * connection; the portable layer uses it to report shutdown.
 */
export class HealthTracker implements HealthSource {
  #health: Health;
  readonly #listeners = new Set<(health: Health) => void>();
  readonly #codeOf: HealthErrorCode;

  /** `codeOf` gives `toJSON` the portable code of `lastError` (default: `errorCode`). */
  constructor(initial: HealthState = "connecting", codeOf: HealthErrorCode = errorCode) {
    this.#codeOf = codeOf;
    this.#health = new HealthReport(
      { state: initial, lastError: undefined, since: new Date(), blocked: undefined },
      codeOf,
    );
  }

  current(): Health {
    return this.#health;
  }

  onChange(listener: (health: Health) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Moves to `state`. `lastError` is kept unless a new one is given. A
   * closed tracker stays closed. `endpoint`, where the connection is now, is
   * kept while ready and cleared in any other state unless given.
   */
  set(state: HealthState, lastError?: Error, endpoint?: string): void {
    const prev = this.#health;
    if (prev.state === "closed") return;
    const where = endpoint ?? (state === "ready" ? prev.endpoint : undefined);
    if (prev.state === state && (lastError === undefined || lastError === prev.lastError) && where === prev.endpoint) {
      return;
    }
    this.#publish({
      state,
      lastError: lastError ?? prev.lastError,
      since: prev.state === state ? prev.since : new Date(),
      blocked: state === "closed" ? undefined : prev.blocked,
      endpoint: where,
    });
  }

  /** Records that the broker blocks (a reason) or unblocks (undefined) publishing. */
  setBlocked(reason: string | undefined): void {
    if (this.#health.blocked === reason || this.#health.state === "closed") return;
    const { state, lastError, since, endpoint } = this.#health;
    this.#publish({ state, lastError, since, blocked: reason, endpoint });
  }

  #publish(fields: Omit<Health, "toJSON">): void {
    const health = new HealthReport(fields, this.#codeOf);
    this.#health = health;
    for (const listener of this.#listeners) {
      try {
        listener(health);
      } catch {
        // A listener's bug must not break the connection code that reports health.
      }
    }
  }
}

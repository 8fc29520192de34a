/**
 * Connection health of a Topic or Subscription, for a service's /health
 * endpoint and its logs.
 */
export type HealthState = "connecting" | "ready" | "reconnecting" | "closed";

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

  constructor(initial: HealthState = "connecting") {
    this.#health = { state: initial, lastError: undefined, since: new Date(), blocked: undefined };
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
    this.#publish({ ...this.#health, blocked: reason });
  }

  #publish(health: Health): void {
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

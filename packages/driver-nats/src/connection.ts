/**
 * The connection to NATS: the nats.js options of the connections this
 * driver opens, and {@link NatsLink}, a driver's hold on one connection
 * (the user's, or one it opens, shares and closes itself) with its health.
 */
import { type ConnectionOptions, connect, type NatsConnection } from "@nats-io/transport-node";
import {
  certificateHint,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DriverError,
  type DriverServer,
  ErrorCode,
  FirstConnection,
  HealthTracker,
  settledWithin,
  throwIfAborted,
  WakeUp,
} from "@portable-pubsub/core/driver";
import { ConnectionLostError } from "./errors.js";
import type { ServerSettings } from "./server.js";

/**
 * How often the driver's connections ping the server. Two unanswered pings
 * (`maxPingOut`) mark the connection stale and start a reconnect, so a
 * silent network (a pulled cable, a blackholing firewall) is noticed within
 * about three intervals; nats.js's own default of 2 minutes would take 4 to 6.
 */
export const DEFAULT_PING_INTERVAL_MS = 5000;
/** How long a PubAck or a JetStream API reply may take before the request fails (and a send is retried). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5000;
/**
 * How long one connection attempt may take (TCP, INFO, CONNECT) before
 * nats.js gives it up, unless the `connectTimeoutMs` option says otherwise:
 * the portable default, as on every driver.
 */
export const CONNECT_TIMEOUT_MS = DEFAULT_CONNECT_TIMEOUT_MS;

/**
 * The nats.js options of the connections this driver opens: reconnect for
 * ever (nats.js gives up after 10 attempts by default, which would leave a
 * Topic dead after a 20-second outage), a quick first retry, and pings
 * often enough to notice a silent network, and no async stack traces for
 * requests. `extra` (the user's) wins.
 */
export function connectionOptions(
  settings: ServerSettings,
  pingIntervalMs = DEFAULT_PING_INTERVAL_MS,
  extra: Partial<ConnectionOptions> = {},
  connectTimeoutMs = CONNECT_TIMEOUT_MS,
): ConnectionOptions {
  return {
    servers: settings.servers,
    ...(settings.user !== undefined ? { user: settings.user, pass: settings.pass } : {}),
    ...(settings.token !== undefined ? { token: settings.token } : {}),
    ...(settings.tls ? { tls: {} } : {}),
    name: "portable-pubsub",
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    reconnectJitter: 250,
    pingInterval: pingIntervalMs,
    maxPingOut: 2,
    timeout: connectTimeoutMs,
    // nats.js otherwise builds two Errors (with stack traces) for every request up front, a tenth
    // of the CPU a publish costs; core gives every error the caller sees its own context anyway.
    noAsyncTraces: true,
    ...extra,
  };
}

/** Connects with {@link connectionOptions}. */
export function connectNats(options: ConnectionOptions): Promise<NatsConnection> {
  return connect(options);
}

/** Links opened by URL, by their connection options, while a Topic or Subscription holds them. */
const sharedLinks = new Map<string, NatsLink>();

/** `options` as a key of `sharedLinks`; undefined when they hold a function (an authenticator), which cannot be compared. */
function sharingKey(options: ConnectionOptions): string | undefined {
  let comparable = true;
  const key = JSON.stringify(options, (_, value: unknown) => {
    if (typeof value === "function") comparable = false;
    return value;
  });
  return comparable ? key : undefined;
}

/** How long closing a connection this driver opened waits for its last acks and naks to be flushed. */
const CLOSE_GRACE_MS = 2000;

/**
 * A driver's hold on one NATS connection: either the user's (left open at
 * close), or one the driver opens itself (on first use, again after a failed
 * attempt, and closed at close). It turns the connection's status events into
 * health, and into a promise, renewed on every disconnect, that tells sends
 * in flight their PubAck will not come.
 */
export class NatsLink {
  readonly health = new HealthTracker("connecting");
  /** The servers, for messages: never with credentials. */
  readonly display: string;
  /** The servers and connect timeout, for the portable layer's bound on opening. */
  readonly server: DriverServer;
  /** The gate before the connection this link opens itself; none on the user's connection. */
  readonly #first: FirstConnection<NatsConnection> | undefined;
  #nc: NatsConnection | undefined;
  #closed = false;
  /** The Topics and Subscriptions that hold this link: the last to close it closes the connection. */
  #users = 1;
  #sharedAs: string | undefined;
  #stopStatus: (() => void) | undefined;
  #lost!: Promise<never>;
  #fireLost!: (err: Error) => void;
  /** False from a disconnect until the reconnect: nats.js discards what is published meanwhile. */
  #up = false;
  readonly #back = new WakeUp();

  private constructor(
    nc: NatsConnection | undefined,
    open: (() => Promise<NatsConnection>) | undefined,
    display: string,
    connectTimeoutMs: number,
  ) {
    this.display = display;
    this.#first =
      open &&
      new FirstConnection({
        open,
        connected: (connection) => this.#adopt(connection),
        failed: (err) => {
          const error = connectError(err, display);
          this.health.set("connecting", error);
          return error;
        },
        dispose: (connection) => connection.close(),
      });
    this.server = { broker: "NATS", address: display, connectTimeoutMs };
    this.#renewLost();
    if (nc) this.#adopt(nc);
  }

  /** A link on the user's connection, which close leaves open. */
  static of(nc: NatsConnection): NatsLink {
    return new NatsLink(nc, undefined, nc.getServer(), CONNECT_TIMEOUT_MS);
  }

  /**
   * A link that opens its own connection with `open` on first use, and
   * closes it at close; `open` gives up an attempt after `connectTimeoutMs`.
   */
  static opening(
    open: () => Promise<NatsConnection>,
    display: string,
    connectTimeoutMs = CONNECT_TIMEOUT_MS,
  ): NatsLink {
    return new NatsLink(undefined, open, display, connectTimeoutMs);
  }

  /**
   * A link on the connection that opens with `options`, shared by every
   * Topic and Subscription opened with the same options while one of them
   * holds it: each must `close` it once, and the last closes the connection.
   */
  static sharing(options: ConnectionOptions, display: string, connectTimeoutMs = CONNECT_TIMEOUT_MS): NatsLink {
    const key = sharingKey(options);
    const existing = key === undefined ? undefined : sharedLinks.get(key);
    if (existing !== undefined && !existing.#closed) {
      existing.#users++;
      return existing;
    }
    const link = new NatsLink(undefined, () => connectNats(options), display, connectTimeoutMs);
    if (key !== undefined) {
      link.#sharedAs = key;
      sharedLinks.set(key, link);
    }
    return link;
  }

  /** The connection once made, else undefined. */
  get current(): NatsConnection | undefined {
    return this.#nc;
  }

  /**
   * A promise that rejects (retryably) when the current connection drops.
   * Never settles otherwise; it always has a handler, so it is never an
   * unhandled rejection.
   */
  get lost(): Promise<never> {
    return this.#lost;
  }

  /** The connection, connecting first if this link opens its own; a failed attempt is made again on the next call. */
  connection(signal?: AbortSignal): Promise<NatsConnection> {
    if (this.#nc) return Promise.resolve(this.#nc);
    if (!this.#first) throw new Error("unreachable: a link without a connection opens one");
    return this.#first.get(signal);
  }

  /**
   * The connection once it is up: at once, or after the reconnect that
   * follows a disconnect (nats.js drops what is published while
   * disconnected, so waiting is the only way to have it sent). Rejects
   * with Canceled when `signal` fires, and with ClosedConnectionError's
   * kind when the connection closed for good.
   */
  async connected(signal: AbortSignal): Promise<NatsConnection> {
    const nc = this.#nc ?? (await this.connection(signal));
    while (!this.#up) {
      if (nc.isClosed() || this.#closed) {
        throw new DriverError("the NATS connection is closed", ErrorCode.FailedPrecondition, {
          hint: "open the topic or subscription on a connection that is open",
        });
      }
      throwIfAborted(signal, "send");
      await this.#back.wait(1000, signal);
    }
    return nc;
  }

  /**
   * Stops watching; closes the connection if this link opened it, after
   * flushing what it still has to send. A shared link does so only when its
   * last holder closes it.
   */
  async close(signal: AbortSignal): Promise<void> {
    if (--this.#users > 0) return;
    if (this.#sharedAs !== undefined && sharedLinks.get(this.#sharedAs) === this) sharedLinks.delete(this.#sharedAs);
    this.#closed = true;
    this.#first?.close();
    this.#stopStatus?.();
    this.#back.wakeAll();
    const nc = this.#nc;
    if (!nc || !this.#first) return;
    if (!nc.isClosed()) {
      await settledWithin(nc.flush(), signal, CLOSE_GRACE_MS);
      await settledWithin(nc.close(), signal, CLOSE_GRACE_MS);
    }
  }

  #renewLost(): void {
    this.#lost = new Promise<never>((_, reject) => {
      this.#fireLost = reject;
    });
    this.#lost.catch(() => {});
  }

  #adopt(nc: NatsConnection): void {
    this.#nc = nc;
    this.#up = !nc.isClosed();
    if (this.#up) this.health.set("ready");
    const status = nc.status() as AsyncIterable<{ type: string; error?: unknown }> & { stop?: () => void };
    this.#stopStatus = () => status.stop?.();
    void (async () => {
      try {
        for await (const s of status) {
          if (this.#closed) break;
          switch (s.type) {
            case "disconnect":
            case "staleConnection": {
              const error = new Error(
                s.type === "disconnect"
                  ? `disconnected from ${this.display}`
                  : `no answer to pings from ${this.display}`,
              );
              this.#up = false;
              this.health.set("reconnecting", error);
              this.#fireLost(new ConnectionLostError());
              this.#renewLost();
              break;
            }
            case "reconnecting":
              this.health.set("reconnecting");
              break;
            case "reconnect":
              this.#up = true;
              this.#back.wakeAll();
              this.health.set("ready");
              break;
            case "close":
              this.#up = false;
              this.#back.wakeAll();
              // Only a user's connection closes under a driver: sends then fail with ClosedConnectionError.
              this.#fireLost(new ConnectionLostError());
              break;
          }
        }
      } catch {
        // The status iterator ends with the connection; nothing to report.
      }
    })();
  }
}

/** A failed first connection as a message that names the servers, without credentials; auth failures keep their class. */
function connectError(err: unknown, display: string): Error {
  if (err instanceof Error && (err.name === "AuthorizationError" || err.name === "UserAuthenticationExpiredError")) {
    return err;
  }
  const detail = err instanceof Error ? err.message : String(err);
  // No answer within the connect timeout is DeadlineExceeded, as the portable layer's bound on opening says.
  const code = err instanceof Error && err.name === "TimeoutError" ? ErrorCode.DeadlineExceeded : ErrorCode.Unknown;
  return new DriverError(`could not connect to NATS at ${display}: ${detail}`, code, {
    retryable: true,
    hint:
      certificateHint(err) ??
      `is nats-server running there? (the server comes from the serverUrl option or NATS_SERVER_URL)`,
    cause: err,
  });
}

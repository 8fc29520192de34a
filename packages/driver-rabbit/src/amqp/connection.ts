/**
 * The self-healing connection: one amqplib connection at a time, replaced
 * after any loss (network cut, heartbeat timeout, broker restart, an
 * operator's `close_connection`) with capped exponential backoff and full
 * jitter, forever once the first connection succeeded, failing over
 * between server URLs. Channels are not its business: each ManagedChannel
 * asks it for the current connection and reopens itself.
 */
import type { Socket } from "node:net";
import { backoffDelay, ErrorCode, HealthTracker, settledWithin, sleep } from "@portable-pubsub/core/driver";
import { type ChannelModel, connect } from "amqplib";
import { RabbitError, rabbitErrors, replyCodeOf } from "../errors.js";
import type { ServerTarget } from "./server-url.js";
import { type RabbitConnectionSettings, type ResolvedSettings, resolveSettings } from "./settings.js";
import { watchHeartbeat } from "./watchdog.js";

interface Waiter {
  resolve: (model: ChannelModel) => void;
  reject: (err: unknown) => void;
}

/**
 * A connection to RabbitMQ that recovers by itself. Topics and
 * subscriptions opened with the same settings share one; open your own with
 * {@link connectRabbit} to control its lifetime. Its `health` says whether it
 * is connected and whether the broker blocks publishing.
 */
export class RabbitConnection {
  /** `connecting` until first connected, `ready`, `reconnecting` after a loss, `closed`. */
  readonly health = new HealthTracker("connecting");
  /** The server URLs without passwords. */
  readonly display: string;
  readonly #settings: ResolvedSettings;
  readonly #stop = new AbortController();
  #model: ChannelModel | undefined;
  #waiters: Waiter[] = [];
  #running = false;
  #everConnected = false;
  #index = 0;
  #connects = 0;
  #refs = 0;
  #onLastRelease: (() => void) | undefined;
  #closing: Promise<void> | undefined;

  constructor(settings: ResolvedSettings, onLastRelease?: () => void) {
    this.#settings = settings;
    this.display = settings.display;
    this.#onLastRelease = onLastRelease;
  }

  /** True once `close` was called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Whether the first connection gives up after one round of the server URLs (see RabbitConnectionSettings.failFast). */
  get failFast(): boolean {
    return this.#settings.failFast;
  }

  /** How many times a connection was established: 1 after the first, +1 per recovery. */
  get connects(): number {
    return this.#connects;
  }

  /** The amqplib connection in use now, or undefined while (re)connecting. */
  get current(): ChannelModel | undefined {
    return this.#model;
  }

  /**
   * Returns the current amqplib connection, waiting while the connection is
   * being (re)established. Rejects when `signal` fires, when the connection
   * is closed, or, before the first success with `failFast`, when no server
   * URL could be reached (a later call tries again).
   */
  model(signal?: AbortSignal): Promise<ChannelModel> {
    if (this.#model) return Promise.resolve(this.#model);
    if (this.closed) return Promise.reject(this.#closedError());
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<ChannelModel>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      if (signal) {
        const onAbort = () => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          reject(signal.reason);
        };
        signal.addEventListener("abort", onAbort, { once: true });
        waiter.resolve = (model) => {
          signal.removeEventListener("abort", onAbort);
          resolve(model);
        };
        waiter.reject = (err) => {
          signal.removeEventListener("abort", onAbort);
          reject(err);
        };
      }
      this.#waiters.push(waiter);
      this.#start();
    });
  }

  /** Counts one more user; {@link release} undoes it. */
  retain(): this {
    this.#refs++;
    return this;
  }

  /** Drops one user; the last one closes a shared connection. */
  async release(signal?: AbortSignal): Promise<void> {
    if (--this.#refs > 0 || !this.#onLastRelease) return;
    this.#onLastRelease();
    await this.close(signal);
  }

  /**
   * Stops recovery and closes the connection. Returns only after the broker
   * confirmed the close, or when `signal` fires (the socket is then
   * destroyed). Channels on it close with it.
   */
  close(signal?: AbortSignal): Promise<void> {
    this.#closing ??= this.#doClose(signal);
    return this.#closing;
  }

  async #doClose(signal: AbortSignal | undefined): Promise<void> {
    this.#stop.abort();
    this.health.set("closed");
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter.reject(this.#closedError());
    const model = this.#model;
    this.#model = undefined;
    if (!model) return;
    const deadline = signal ?? AbortSignal.timeout(this.#settings.connectTimeoutMs);
    // A broker that does not answer the close (a stalled link) must not hold up shutdown: cut the socket.
    const closed = await settledWithin(
      model.close().then(() => true),
      deadline,
    );
    if (!closed) socketOf(model)?.destroy();
  }

  #closedError(): RabbitError {
    return new RabbitError(`the connection to ${this.display} has been closed`, {
      portable: ErrorCode.FailedPrecondition,
      retryable: false,
    });
  }

  #start(): void {
    if (this.#running || this.closed) return;
    this.#running = true;
    void this.#run().finally(() => {
      this.#running = false;
    });
  }

  async #run(): Promise<void> {
    const { targets, reconnectInitialDelayMs: base, reconnectMaxDelayMs: cap } = this.#settings;
    let failures = 0;
    let triedThisRound = 0;
    while (!this.closed) {
      const target = targets[this.#index % targets.length] as ServerTarget;
      let model: ChannelModel;
      try {
        model = await this.#dial(target);
      } catch (cause) {
        if (this.closed) return;
        const err = connectError(target, cause);
        failures++;
        triedThisRound++;
        this.#index++;
        if (!this.#everConnected && (!err.retryable || (this.#settings.failFast && triedThisRound >= targets.length))) {
          this.health.set("connecting", err);
          const waiters = this.#waiters;
          this.#waiters = [];
          for (const waiter of waiters) waiter.reject(err);
          return;
        }
        this.health.set(this.#everConnected ? "reconnecting" : "connecting", err);
        await quietSleep(backoffDelay(failures - 1, base, cap), this.#stop.signal);
        continue;
      }
      if (this.closed) {
        model.close().catch(() => {});
        return;
      }
      failures = 0;
      triedThisRound = 0;
      const lost = await this.#adopt(model);
      if (this.closed) return;
      this.health.set("reconnecting", lost);
      await quietSleep(Math.random() * base, this.#stop.signal);
    }
  }

  async #dial(target: ServerTarget): Promise<ChannelModel> {
    const { heartbeat, connectTimeoutMs, socketOptions, connectionName } = this.#settings;
    return connect(
      { ...target.options, heartbeat },
      {
        ...socketOptions,
        noDelay: true,
        timeout: connectTimeoutMs,
        clientProperties: { connection_name: connectionName },
      },
    );
  }

  /** Puts `model` in service; resolves with the reason once it is lost. */
  #adopt(model: ChannelModel): Promise<Error> {
    let lastError: Error | undefined;
    // Every event amqplib can emit has a listener: an unhandled 'error' would crash the process.
    model.on("error", (err: Error) => {
      lastError = err;
    });
    model.on("handler-error", () => {});
    model.on("blocked", (reason: string) => this.health.setBlocked(reason || "blocked by the broker"));
    model.on("unblocked", () => this.health.setBlocked(undefined));
    const socket = socketOf(model);
    const negotiated = (model.connection as unknown as { heartbeat?: number }).heartbeat ?? this.#settings.heartbeat;
    const stopWatchdog = socket ? watchHeartbeat(socket, negotiated) : () => {};
    const lost = new Promise<Error>((resolve) => {
      model.once("close", (err?: Error) => {
        stopWatchdog();
        if (this.#model === model) this.#model = undefined;
        this.health.setBlocked(undefined);
        // amqplib only ends its side; a blackholed socket would linger half-open.
        socket?.destroy();
        resolve(err ?? lastError ?? new RabbitError("the connection was closed", { retryable: true }));
      });
    });
    this.#model = model;
    this.#everConnected = true;
    this.#connects++;
    this.health.set("ready");
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter.resolve(model);
    return lost;
  }
}

function socketOf(model: ChannelModel): Socket | undefined {
  return (model.connection as unknown as { stream?: Socket }).stream;
}

function quietSleep(ms: number, signal: AbortSignal): Promise<void> {
  return sleep(ms, signal).catch(() => {});
}

/** A failed connection attempt, without credentials; `rabbitErrors.hint` says what to check. */
function connectError(target: ServerTarget, cause: unknown): RabbitError {
  const replyCode = replyCodeOf(cause);
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new RabbitError(`cannot connect to ${target.display}: ${detail}`, {
    cause,
    role: "connect",
    vhost: target.options.vhost ?? "/",
    ...(replyCode === undefined ? {} : { replyCode }),
    // A refusal (bad login, vhost) stays refused; anything else but a programming error may pass.
    retryable: replyCode === undefined ? rabbitErrors.isRetryable(cause) || !(cause instanceof TypeError) : false,
  });
}

/**
 * Opens a connection of your own, to pass to `openRabbitTopic` and
 * `openRabbitSubscription`: drivers then use it without closing it. It
 * starts connecting at once; close it when done.
 */
export function connectRabbit(settings: RabbitConnectionSettings = {}): RabbitConnection {
  const connection = new RabbitConnection(resolveSettings(settings));
  void connection.model().catch(() => {});
  return connection;
}

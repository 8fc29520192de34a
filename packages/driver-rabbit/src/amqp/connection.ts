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
import { type ChannelModel, connect, type SocketOptions } from "amqplib";
import { RabbitError, ReplyCode, replyCodeOf } from "../errors.js";
import { channelMaxOf, DEFAULT_CHANNEL_MAX } from "./channel-max.js";
import { coalesceWrites } from "./coalesce.js";
import { connectError, dialHedged } from "./dial.js";
import { shuffled } from "./failover.js";
import { nodeOf, type RabbitNode } from "./node.js";
import type { ServerTarget } from "./server-url.js";
import { type RabbitConnectionSettings, type ResolvedSettings, resolveSettings } from "./settings.js";
import { watchHeartbeat } from "./watchdog.js";

/**
 * A connection lost sooner than this after its handshake counts as a failed
 * attempt: a broker that drops every connection at once gets backoff, not a
 * reconnect every few milliseconds.
 */
const STABLE_AFTER_MS = 100;

/** While an attempt's handshake is pending this long, a fresh attempt starts (see dial.ts). */
const HEDGE_MS = 1000;

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
  /** The server URLs in this connection's own random order (see failover.ts). */
  readonly #order: readonly ServerTarget[];
  #node: RabbitNode | undefined;
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
  /** The channel_max of the last connection, kept while reconnecting. */
  #channelMax: number | undefined;

  constructor(settings: ResolvedSettings, onLastRelease?: () => void) {
    this.#settings = settings;
    this.#order = shuffled(settings.targets);
    this.display = settings.display;
    this.#onLastRelease = onLastRelease;
  }

  /** `server.address` and `server.port` of the server URL this connection tries first, for spans and metrics. */
  get address(): { serverAddress?: string; serverPort?: number } {
    const first = this.#order[0]?.options;
    return {
      ...(first?.hostname ? { serverAddress: first.hostname } : {}),
      ...(first?.port ? { serverPort: first.port } : {}),
    };
  }

  /**
   * The settings it was made with, for a sibling connection of another role (a subscription's publisher).
   * @internal
   */
  get settings(): ResolvedSettings {
    return this.#settings;
  }

  /** True once `close` was called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Whether the first connection gives up after one round of the server URLs (see RabbitConnectionSettings.failFast). */
  get failFast(): boolean {
    return this.#settings.failFast;
  }

  /**
   * The server URLs (without passwords) in the order this connection tries
   * them: a random order of its own, chosen once, walked round-robin from
   * wherever it last connected.
   */
  get failoverOrder(): readonly string[] {
    return this.#order.map((t) => t.display);
  }

  /**
   * Which server the connection is on now (its URL, the broker's cluster
   * name and version), or undefined while (re)connecting. Health says
   * whether it is connected; this says where.
   */
  get node(): RabbitNode | undefined {
    return this.#node;
  }

  /** How many times a connection was established: 1 after the first, +1 per recovery. */
  get connects(): number {
    return this.#connects;
  }

  /**
   * The largest frame the connection carries: the negotiated frame_max while
   * connected, else the one asked for (the negotiated one is never larger).
   */
  get frameMax(): number {
    const negotiated = (this.#model?.connection as unknown as { frameMax?: number } | undefined)?.frameMax;
    return negotiated ?? this.#settings.targets[0]?.options.frameMax ?? AMQPLIB_FRAME_MAX;
  }

  /** How many channels the connection carries: the negotiated channel_max once known, else the one asked for or RabbitMQ's default. */
  get channelMax(): number {
    const negotiated = this.#model ? channelMaxOf(this.#model) : this.#channelMax;
    return negotiated ?? (this.#settings.targets[0]?.options.channelMax || DEFAULT_CHANNEL_MAX);
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

  /** How many drivers use the connection (each with one channel). */
  get users(): number {
    return this.#refs;
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
    // A broker that does not answer the close (a stalled link) must not hold up shutdown, whatever signal
    // the caller gave: past connectTimeoutMs the socket is cut.
    const timeout = AbortSignal.timeout(this.#settings.connectTimeoutMs);
    const deadline = signal ? AbortSignal.any([signal, timeout]) : timeout;
    // amqplib settles close() only on close-ok; a broker that answers with a close of its own (as RabbitMQ
    // does while it stops) and then drops the socket ends the connection without one: its close event counts.
    const gone = new Promise<boolean>((resolve) => model.once("close", () => resolve(true)));
    const closed = await settledWithin(Promise.race([model.close().then(() => true), gone]), deadline);
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
    const { reconnectInitialDelayMs: base, reconnectMaxDelayMs: cap } = this.#settings;
    const targets = this.#order;
    let failures = 0;
    let triedThisRound = 0;
    while (!this.closed) {
      const target = targets[this.#index % targets.length] as ServerTarget;
      let dialed: Dialed;
      try {
        dialed = await this.#dial(this.#index);
      } catch (cause) {
        if (this.closed) return;
        const err = cause instanceof RabbitError ? cause : connectError(target, cause);
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
      const { model } = dialed;
      if (this.closed) {
        model.on("error", () => {});
        model.close().catch(() => {});
        return;
      }
      triedThisRound = 0;
      const adoptedAt = Date.now();
      // The next dial after a loss starts where this one connected.
      this.#index = dialed.index;
      const lost = await this.#adopt(dialed);
      if (this.closed) return;
      this.health.set("reconnecting", lost);
      // A connection that died at once, or that the broker closed for a protocol error (it would do so
      // again), is a failed attempt: the backoff goes on growing. Any other loss starts afresh.
      if (Date.now() - adoptedAt < STABLE_AFTER_MS || isRefusal(lost)) failures++;
      else failures = 0;
      const delay = failures === 0 ? Math.random() * base : backoffDelay(failures - 1, base, cap);
      await quietSleep(delay, this.#stop.signal);
    }
  }

  /**
   * One dial, starting at the server URL at `index` of this connection's
   * order. A hedged attempt (see dial.ts) goes to the next URL, so that a
   * node whose handshake stalls (its host gone silent) costs a second, not
   * the connect timeout; a refused one fails over at once, as before.
   */
  #dial(index: number): Promise<Dialed> {
    const { heartbeat, connectTimeoutMs, socketOptions, connectionName } = this.#settings;
    const targets = this.#order;
    const attempt = async (signal: AbortSignal, n: number): Promise<Dialed> => {
      const at = (index + n) % targets.length;
      const target = targets[at] as ServerTarget;
      const options: SocketOptions & { signal: AbortSignal } = {
        ...socketOptions,
        noDelay: true,
        timeout: connectTimeoutMs,
        clientProperties: { connection_name: connectionName },
        // net.connect gives the signal to the socket: aborting a losing attempt destroys it.
        signal,
      };
      try {
        return { model: await connect({ ...target.options, heartbeat }, options), target, index: at };
      } catch (cause) {
        throw connectError(target, cause);
      }
    };
    const hedgeMs = Math.min(HEDGE_MS, Math.max(50, connectTimeoutMs / 4));
    return dialHedged(attempt, { hedgeMs, maxPending: 3, timeoutMs: connectTimeoutMs }, this.#stop.signal);
  }

  /** Puts the dialed connection in service; resolves with the reason once it is lost. */
  #adopt({ model, target }: Dialed): Promise<Error> {
    let lastError: Error | undefined;
    // Every event amqplib can emit has a listener: an unhandled 'error' would crash the process.
    model.on("error", (err: Error) => {
      lastError = err;
    });
    model.on("handler-error", () => {});
    model.on("blocked", (reason: string) => this.health.setBlocked(reason || "blocked by the broker"));
    model.on("unblocked", () => this.health.setBlocked(undefined));
    coalesceWrites(model);
    const socket = socketOf(model);
    const negotiated = (model.connection as unknown as { heartbeat?: number }).heartbeat ?? this.#settings.heartbeat;
    const stopWatchdog = socket ? watchHeartbeat(socket, negotiated) : () => {};
    const lost = new Promise<Error>((resolve) => {
      model.once("close", (err?: Error) => {
        stopWatchdog();
        if (this.#model === model) {
          this.#model = undefined;
          this.#node = undefined;
        }
        this.health.setBlocked(undefined);
        // amqplib only ends its side; a blackholed socket would linger half-open.
        socket?.destroy();
        resolve(err ?? lastError ?? new RabbitError("the connection was closed", { retryable: true }));
      });
    });
    this.#model = model;
    this.#node = nodeOf(model, target);
    this.#channelMax = channelMaxOf(model);
    this.#everConnected = true;
    this.#connects++;
    this.health.set("ready", undefined, this.#node.server);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter.resolve(model);
    return lost;
  }
}

/** A connection that finished its handshake, the server URL it is on, and that URL's place in the order. */
interface Dialed {
  readonly model: ChannelModel;
  readonly target: ServerTarget;
  readonly index: number;
}

/** amqplib asks for this frame_max when the server URL names none. */
const AMQPLIB_FRAME_MAX = 131072;

/** The broker closed the connection for a reason of ours (a frame or syntax error, a refusal), not to shut down. */
function isRefusal(lost: Error): boolean {
  const code = replyCodeOf(lost);
  return code !== undefined && code !== ReplyCode.ConnectionForced;
}

function socketOf(model: ChannelModel): Socket | undefined {
  return (model.connection as unknown as { stream?: Socket }).stream;
}

function quietSleep(ms: number, signal: AbortSignal): Promise<void> {
  return sleep(ms, signal).catch(() => {});
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

import {
  describeUrl,
  type HealthState,
  HealthTracker,
  invalidArgument,
  settledWithin,
} from "@portable-pubsub/core/driver";
import { Redis, type RedisOptions } from "ioredis";

/** The environment variable that names the Redis server of `redisstream://` URLs. */
export const SERVER_URL_ENV = "REDIS_SERVER_URL";

/**
 * How long a connection may stay silent while a reply is due before it is
 * taken for dead, destroyed and re-established. A stalled network (a pulled
 * cable, a blackholing firewall) raises no error of its own; without this a
 * command would wait for the kernel's TCP timeout, many minutes.
 */
export const DEFAULT_SOCKET_TIMEOUT_MS = 5000;

/**
 * ioredis options of the connections this driver opens for commands (XADD,
 * XACK, XAUTOCLAIM). Commands wait through an outage in the offline queue
 * (`maxRetriesPerRequest: null`) instead of failing after some reconnect
 * attempts, and commands that were in flight when a connection died are sent
 * again on the next one (`autoResendUnfulfilledCommands`): ioredis would
 * otherwise drop them without settling their promises.
 */
export function commandClientOptions(socketTimeoutMs: number): RedisOptions {
  return {
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    autoResendUnfulfilledCommands: true,
    socketTimeout: socketTimeoutMs,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), 2000),
    lazyConnect: false,
  };
}

/**
 * ioredis options of the connection that runs the blocking XREADGROUP. Its
 * socket timeout leaves room for the BLOCK time, during which the server is
 * silent on purpose.
 */
export function readerClientOptions(blockMs: number, socketTimeoutMs: number): RedisOptions {
  return commandClientOptions(socketTimeoutMs + blockMs);
}

/** Checks a server URL: redis:// or rediss://, with a host. */
export function checkServerUrl(serverUrl: string): URL {
  let url: URL;
  try {
    url = new URL(serverUrl);
  } catch (err) {
    throw invalidArgument(
      // An unparsable URL is not echoed: where its password ends cannot be told.
      "redisstream: the server URL is not a valid URL; expected redis://[user:password@]host[:port][/db]",
      err,
    );
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    throw invalidArgument(
      `redisstream: server URL "${describeUrl(serverUrl)}" must start with redis:// or rediss:// (TLS), not ${url.protocol}//`,
    );
  }
  if (!url.hostname) throw invalidArgument(`redisstream: server URL "${describeUrl(serverUrl)}" names no host`);
  return url;
}

/** The server URL from the `serverUrl` option or REDIS_SERVER_URL, checked. */
export function resolveServerUrl(serverUrl: string | undefined): string {
  const value = serverUrl ?? process.env[SERVER_URL_ENV];
  if (value === undefined || value === "") {
    throw invalidArgument(
      `redisstream: no Redis server; set ${SERVER_URL_ENV} (such as redis://localhost:6379) or pass the serverUrl option`,
    );
  }
  checkServerUrl(value);
  return value;
}

/** Opens an ioredis client for `serverUrl` with this driver's options; `extra` (the user's) wins. */
export function createClient(serverUrl: string, options: RedisOptions, extra: RedisOptions = {}): Redis {
  const client = new Redis(serverUrl, { ...options, ...extra });
  // ioredis emits 'error' for every failed connection attempt; health reports it. Without a listener it would crash the process.
  client.on("error", () => {});
  return client;
}

/** A connection of its own for blocking reads, with `client`'s server and credentials. */
export function duplicateForReads(client: Redis, blockMs: number, socketTimeoutMs = DEFAULT_SOCKET_TIMEOUT_MS): Redis {
  const reader = client.duplicate(readerClientOptions(blockMs, socketTimeoutMs));
  reader.on("error", () => {});
  return reader;
}

const EVENTS = ["connect", "ready", "reconnecting", "close", "end", "error"] as const;

type Observer = (error: Error | undefined) => void;
/** One set of listeners per client, however many Topics and Subscriptions share it. */
const observers = new WeakMap<Redis, { callbacks: Set<Observer>; detach: () => void }>();

/** Calls `observer` on every connection event of `client`; returns a function that stops it. */
function observe(client: Redis, observer: Observer): () => void {
  let entry = observers.get(client);
  if (!entry) {
    const callbacks = new Set<Observer>();
    const listeners = EVENTS.map((event) => {
      const listener = (arg: unknown) => {
        for (const callback of callbacks) callback(event === "error" ? (arg as Error) : undefined);
      };
      client.on(event, listener);
      return [event, listener] as const;
    });
    const detach = () => {
      for (const [event, listener] of listeners) client.off(event, listener);
    };
    entry = { callbacks, detach };
    observers.set(client, entry);
  }
  const current = entry;
  current.callbacks.add(observer);
  return () => {
    current.callbacks.delete(observer);
    if (current.callbacks.size === 0) {
      current.detach();
      observers.delete(client);
    }
  };
}

function stateOf(client: Redis): HealthState {
  switch (client.status) {
    case "ready":
      return "ready";
    case "wait":
    case "connecting":
    case "connect":
      return "connecting";
    case "end":
      return "closed";
    default:
      return "reconnecting";
  }
}

const RANK: Record<HealthState, number> = { closed: 3, reconnecting: 2, connecting: 1, ready: 0 };

/**
 * Health of a Topic or Subscription from the events of its ioredis clients:
 * ready when all are ready, otherwise the worst state of any. Attaches an
 * 'error' listener to each client, so that no connection error goes
 * unhandled. `stop()` detaches everything.
 */
export class ClientHealth {
  readonly tracker = new HealthTracker("connecting");
  readonly #clients: Redis[];
  readonly #detach: (() => void)[] = [];
  #hadReady = false;

  constructor(clients: Redis[]) {
    this.#clients = clients;
    for (const client of clients) this.#detach.push(observe(client, (error) => this.#update(error)));
    this.#update(undefined);
  }

  #update(error: Error | undefined): void {
    let worst: HealthState = "ready";
    for (const client of this.#clients) {
      const state = stateOf(client);
      if (RANK[state] > RANK[worst]) worst = state;
    }
    // Before the first ready, a retry is still "connecting"; after it, any loss is "reconnecting".
    if (worst === "ready") this.#hadReady = true;
    else if (worst === "reconnecting" && !this.#hadReady) worst = "connecting";
    else if (worst === "connecting" && this.#hadReady) worst = "reconnecting";
    if (worst === "closed") return;
    this.tracker.set(worst, error);
  }

  stop(): void {
    for (const detach of this.#detach.splice(0)) detach();
  }
}

/**
 * Closes a client this driver opened: QUIT, so that replies still due
 * arrive, but disconnects at once when `signal` fires, after `graceMs`, or
 * when QUIT fails (an offline client).
 */
export async function closeClient(client: Redis, signal: AbortSignal, graceMs = 2000): Promise<void> {
  if (client.status === "end") return;
  if (!signal.aborted) await settledWithin(client.quit(), signal, graceMs);
  client.disconnect();
}

/**
 * The server `client` speaks to, as messages name it: `redis://host:port[/db]`
 * (`rediss://` with TLS), never with credentials.
 */
export function describeServer(client: Redis): string {
  const { host, port, db, tls, path } = client.options;
  if (path) return path;
  return `${tls ? "rediss" : "redis"}://${host}:${port}${db ? `/${db}` : ""}`;
}

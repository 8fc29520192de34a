import {
  backoffDelay,
  DEFAULT_CONNECT_TIMEOUT_MS,
  type DriverServer,
  type HealthState,
  HealthTracker,
  raceSignal,
  settledWithin,
} from "@portable-pubsub/core/driver";
import { Cluster, Redis, type RedisOptions } from "ioredis";
import { describeTopology, openTopologyClient } from "./sentinel-cluster.js";
import type { ServerTarget } from "./server.js";

/**
 * A connection this driver uses: one Redis server (plain, or the master that
 * Sentinel names), or a Redis Cluster. Both speak the same commands; a
 * Cluster sends each to the node that holds its key's slot.
 */
export type RedisClient = Redis | Cluster;

/**
 * How long opening waited for Redis before this became the portable
 * `connectTimeoutMs` option.
 * @deprecated Use the `connectTimeoutMs` option; its default is `DEFAULT_CONNECT_TIMEOUT_MS`.
 */
export const OPEN_TIMEOUT_MS = DEFAULT_CONNECT_TIMEOUT_MS;

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
export function commandClientOptions(
  socketTimeoutMs: number,
  connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS,
): RedisOptions {
  return {
    connectTimeout: connectTimeoutMs,
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    autoResendUnfulfilledCommands: true,
    socketTimeout: socketTimeoutMs,
    // Core's backoff, jittered: clients that lost Redis together do not all come back at once.
    retryStrategy: (times) => backoffDelay(times, 50, 2000),
    lazyConnect: false,
  };
}

/**
 * ioredis options of the connection that runs the blocking XREADGROUP. Its
 * socket timeout leaves room for the BLOCK time, during which the server is
 * silent on purpose.
 */
export function readerClientOptions(
  blockMs: number,
  socketTimeoutMs: number,
  connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS,
): RedisOptions {
  return commandClientOptions(socketTimeoutMs + blockMs, connectTimeoutMs);
}

/** How messages name the servers of clients made from a Sentinel or Cluster URL. */
const topologies = new WeakMap<RedisClient, string>();

/**
 * Opens an ioredis client for `target` with this driver's options; `extra`
 * (the user's) wins. A Sentinel or Cluster target gives the client of
 * `openTopologyClient`.
 */
export function createClient(target: ServerTarget, options: RedisOptions, extra: RedisOptions = {}): RedisClient {
  const client =
    typeof target === "string"
      ? new Redis(target, { ...options, ...extra })
      : openTopologyClient(target, options, extra);
  if (typeof target !== "string") topologies.set(client, describeTopology(target));
  return owned(client);
}

/** Sets up a client this driver opened: credentials scrubbed from its errors, and brought back if ioredis ends it. */
function owned<C extends RedisClient>(client: C): C {
  // ioredis emits 'error' for every failed connection attempt; health reports it. Without a listener it would crash the process.
  client.on("error", scrubCredentials);
  if (client instanceof Cluster) client.on("node error", scrubCredentials);
  else reviveWhenEnded(client);
  return client;
}

/** Clients that `closeClient` closed: their end is wanted. */
const closing = new WeakSet<RedisClient>();

/**
 * Connects `client` again whenever it ends without `closeClient` having
 * closed it. ioredis ends a Sentinel client for good when its
 * failoverDetector hears of a failover while the client is between two
 * attempts to reach the master (its connector is told to disconnect
 * mid-connect, and the failed connect ends the client): the commands it
 * queued fail with "Connection is closed." and it never connects again, so
 * acks and sends were retried against a dead client until their deadline. A
 * test that kills the master hit it about one run in eight under load.
 */
function reviveWhenEnded(client: Redis): void {
  let attempts = 0;
  client.on("ready", () => {
    attempts = 0;
  });
  client.on("end", () => {
    if (closing.has(client)) return;
    setTimeout(
      () => {
        if (!closing.has(client) && client.status === "end") client.connect().catch(() => {});
      },
      backoffDelay(attempts++, 100, 2000),
    );
  });
}

/**
 * ioredis attaches the failed command to a reply error, arguments included:
 * for AUTH (and HELLO … AUTH) the user name and password, which
 * `console.error(err)` would print from the cause of every PubSubError made
 * from it. A refused AUTH is emitted as 'error' synchronously after it
 * rejected the queued commands, before their handlers run; this listener,
 * the first on every client, blanks those arguments in place.
 */
function scrubCredentials(err: unknown): void {
  const command = (err as { command?: { name?: unknown; args?: unknown } } | null)?.command;
  if (command && /^(auth|hello)$/i.test(String(command.name)) && Array.isArray(command.args)) {
    command.args = command.args.map(() => "***");
  }
}

/** Clients opened by URL, shared per server and settings while a Topic or Subscription uses them. */
const sharedClients = new Map<string, { client: RedisClient; users: number }>();
/** The key in `sharedClients` of each shared client. */
const sharedKeys = new WeakMap<RedisClient, string>();

/**
 * The command client for `target` with these options, shared by the Topics
 * and Subscriptions opened by URL with the same server and settings: each
 * must close it with `closeClient`, which ends it once the last one has.
 * Settings holding functions, which cannot be compared, get a client of
 * their own.
 */
export function sharedClient(target: ServerTarget, options: RedisOptions, extra: RedisOptions = {}): RedisClient {
  if (Object.values(extra).some((value) => typeof value === "function")) return createClient(target, options, extra);
  const key = JSON.stringify([target, options, extra]);
  const entry = sharedClients.get(key);
  if (entry !== undefined && entry.client.status !== "end") {
    entry.users++;
    return entry.client;
  }
  const client = createClient(target, options, extra);
  sharedClients.set(key, { client, users: 1 });
  sharedKeys.set(client, key);
  return client;
}

/** Counts one user of a shared client out; true when others still use it, so it must stay open. */
function stillShared(client: RedisClient): boolean {
  const key = sharedKeys.get(client);
  const entry = key === undefined ? undefined : sharedClients.get(key);
  if (key === undefined || entry?.client !== client) return false;
  entry.users--;
  if (entry.users > 0) return true;
  sharedClients.delete(key);
  return false;
}

/** A connection of its own for blocking reads, with `client`'s server, credentials and connect timeout. */
export function duplicateForReads(
  client: RedisClient,
  blockMs: number,
  socketTimeoutMs = DEFAULT_SOCKET_TIMEOUT_MS,
): RedisClient {
  const options = readerClientOptions(blockMs, socketTimeoutMs, connectTimeoutOf(client));
  const reader =
    client instanceof Cluster
      ? client.duplicate(undefined, { redisOptions: { ...client.options.redisOptions, ...options } })
      : client.duplicate(options);
  const topology = topologies.get(client);
  if (topology !== undefined) topologies.set(reader, topology);
  return owned(reader);
}

const EVENTS = ["connect", "ready", "reconnecting", "close", "end", "error"] as const;

type Observer = (error: Error | undefined) => void;
/** One set of listeners per client, however many Topics and Subscriptions share it. */
const observers = new WeakMap<RedisClient, { callbacks: Set<Observer>; detach: () => void }>();

/** Calls `observer` on every connection event of `client`; returns a function that stops it. */
function observe(client: RedisClient, observer: Observer): () => void {
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

function stateOf(client: RedisClient): HealthState {
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

// `draining` is the portable layer's state during a shutdown, never a client's; ranked for completeness.
const RANK: Record<HealthState, number> = { closed: 3, draining: 3, reconnecting: 2, connecting: 1, ready: 0 };

/**
 * Health of a Topic or Subscription from the events of its ioredis clients:
 * ready when all are ready, otherwise the worst state of any. Attaches an
 * 'error' listener to each client, so that no connection error goes
 * unhandled. `stop()` detaches everything.
 */
export class ClientHealth {
  readonly tracker = new HealthTracker("connecting");
  readonly #clients: RedisClient[];
  readonly #detach: (() => void)[] = [];
  #hadReady = false;

  constructor(clients: RedisClient[]) {
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

  /** True once every client was ready at the same time: before that, nothing was read that needs handing back. */
  get everReady(): boolean {
    return this.#hadReady;
  }

  stop(): void {
    for (const detach of this.#detach.splice(0)) detach();
  }
}

/**
 * Closes a client this driver opened (a shared one once its last user
 * closed it): QUIT, so that replies still due
 * arrive, but disconnects at once when `signal` fires, after `graceMs`, when
 * QUIT fails, or when the client is not connected (no reply is due then,
 * and QUIT would only wait in the offline queue).
 */
export async function closeClient(client: RedisClient, signal: AbortSignal, graceMs = 2000): Promise<void> {
  if (stillShared(client)) return;
  closing.add(client);
  if (client.status === "end") return;
  if (!signal.aborted && client.status === "ready") await settledWithin(client.quit(), signal, graceMs);
  client.disconnect();
}

/**
 * The server `client` speaks to, as messages name it: `redis://host:port[/db]`
 * (`rediss://` with TLS), or its `redis-sentinel://` or `redis-cluster://`
 * URL, never with credentials.
 */
export function describeServer(client: RedisClient): string {
  const topology = topologies.get(client);
  if (topology !== undefined) return topology;
  if (client instanceof Cluster) return "redis-cluster://";
  if (client.options.sentinels) return `redis-sentinel://…/${client.options.name ?? ""}`;
  const { host, port, db, tls, path } = client.options;
  if (path) return path;
  return `${tls ? "rediss" : "redis"}://${host}:${port}${db ? `/${db}` : ""}`;
}

/** `server.address` and `server.port` of a client's server, for spans and metrics. */
export function serverOf(client: RedisClient): { serverAddress?: string; serverPort?: number } {
  // Sentinel's and a Cluster's servers change; spans name none rather than a wrong one.
  if (client instanceof Cluster || client.options.sentinels) return {};
  const { host, port, path } = client.options;
  if (path) return { serverAddress: path };
  return { ...(host ? { serverAddress: host } : {}), ...(port ? { serverPort: port } : {}) };
}

/** The connect timeout of a client, in ms: its ioredis `connectTimeout`, whose default is also 10 s. */
function connectTimeoutOf(client: RedisClient): number {
  const options = client instanceof Cluster ? client.options.redisOptions : client.options;
  return options?.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS;
}

/** The server of a driver on `client`, for the portable layer's bound on opening. */
export function redisServer(client: RedisClient): DriverServer {
  return { broker: "Redis", address: describeServer(client), connectTimeoutMs: connectTimeoutOf(client) };
}

/**
 * Resolves once every client is connected and ready for commands. Rejects
 * with the first connection error a client reports meanwhile (refused, a
 * refused TLS certificate, a refused password), rather than waiting while
 * ioredis tries again: an open fails at once, as on the other drivers. A
 * client made with `lazyConnect` is connected here. The portable layer
 * bounds the wait (see `redisServer`).
 */
export async function whenConnected(clients: RedisClient[], signal: AbortSignal): Promise<void> {
  await raceSignal(Promise.all(clients.map(connected)), signal, "open");
}

/** The wait for each client that is not ready yet: one set of listeners however many opens share the client. */
const connecting = new WeakMap<RedisClient, Promise<void>>();

function connected(client: RedisClient): Promise<void> {
  if (client.status === "ready") return Promise.resolve();
  if (client.status === "end") return Promise.reject(new Error("Connection is closed."));
  const pending = connecting.get(client);
  if (pending !== undefined) return pending;
  const waiting = firstReady(client).finally(() => connecting.delete(client));
  connecting.set(client, waiting);
  return waiting;
}

function firstReady(client: RedisClient): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = () => {
      client.off("ready", onReady);
      client.off("error", onError);
      client.off("end", onEnd);
    };
    const onReady = () => {
      done();
      resolve();
    };
    const onError = (err: Error) => {
      done();
      reject(err);
    };
    const onEnd = () => {
      done();
      reject(new Error("Connection is closed."));
    };
    client.on("ready", onReady);
    client.on("error", onError);
    client.on("end", onEnd);
    if (client.status === "wait") client.connect().catch(() => {});
  });
}

import { PubSub, type v1 } from "@google-cloud/pubsub";
import {
  canceledError,
  DEFAULT_CONNECT_TIMEOUT_MS,
  type DriverServer,
  ErrorCode,
  HealthTracker,
  PubSubError,
  raceSignal,
  settledWithin,
} from "@portable-pubsub/core/driver";
import { GrpcStatus, gcpErrors } from "./errors.js";

/** How to reach Pub/Sub when the driver builds the client itself (URL openers). */
export interface EndpointOptions {
  /**
   * `host:port` of the Pub/Sub API. Default: `PUBSUB_EMULATOR_HOST` when set
   * (the emulator, no credentials), otherwise Google's endpoint with
   * Application Default Credentials.
   */
  apiEndpoint?: string;
}

/**
 * Builds a PubSub client for `projectId`. An endpoint that is not
 * `*.googleapis.com` (the emulator, a proxy in front of it) is spoken to in
 * plain text without credentials; Google's endpoint with ADC.
 */
export function createPubSub(projectId: string, options: EndpointOptions = {}): PubSub {
  const endpoint = options.apiEndpoint ?? process.env.PUBSUB_EMULATOR_HOST;
  if (!endpoint) return new PubSub({ projectId });
  const host = endpoint.replace(/^https?:\/\//, "").replace(/:\d+\/*$/, "");
  if (host.endsWith(".googleapis.com")) return new PubSub({ projectId, apiEndpoint: endpoint });
  // Naming the universe keeps google-auth-library from probing the GCE metadata server for
  // one, which the emulator does not need and which prints a warning off Google Cloud.
  return new PubSub({ projectId, apiEndpoint: endpoint, emulatorMode: true, universeDomain: "googleapis.com" });
}

/**
 * The generated clients of drivers that built their PubSub client
 * themselves (URL opens), shared per class and PubSub settings while a
 * driver uses one: each loads the service's protos and costs about 100 KiB,
 * so a thousand subscriptions would otherwise build a thousand.
 */
const sharedClients = new Map<string, { client: Promise<GapicClient>; users: number }>();

/** A generated Pub/Sub API client (v1.PublisherClient, v1.SubscriberClient): all we need of one is close. */
interface GapicClient {
  close(): Promise<void>;
}

/** The class of a generated client; both take the options that PubSub builds its own clients from. */
type GapicClass<C> = new (options: ConstructorParameters<typeof v1.PublisherClient>[0]) => C;

/**
 * The gRPC side of one driver: a generated API client made from a PubSub
 * client's configuration, with the calls in flight counted so that closing
 * never leaves a call running on a closed channel (the generated clients turn
 * that into an unhandled rejection) nor an open handle behind.
 *
 * The generated client is the driver's own, even when the PubSub client is the
 * user's: closing the driver closes it, and the user's PubSub only when the
 * driver built that too.
 */
export class Connection<C extends GapicClient> {
  readonly pubsub: PubSub;
  readonly health = new HealthTracker("connecting");
  /** The endpoint and connect timeout, for the portable layer's bound on opening. */
  readonly server: DriverServer;
  readonly #ownsPubSub: boolean;
  readonly #Client: GapicClass<C>;
  readonly #resource: string;
  readonly #inFlight = new Set<Promise<unknown>>();
  #client: Promise<C> | undefined;
  /** Where this driver's generated client is shared, when it is (see `sharedClients`). */
  #sharedAs: string | undefined;
  #closing: Promise<void> | undefined;

  /**
   * Makes calls through a `Client` built on the first call from `pubsub`'s
   * configuration. With `ownsPubSub`, closing closes `pubsub` too.
   * `connectTimeoutMs` bounds `reachable`.
   */
  constructor(
    pubsub: PubSub,
    ownsPubSub: boolean,
    resource: string,
    Client: GapicClass<C>,
    connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS,
  ) {
    this.pubsub = pubsub;
    this.server = { broker: "Pub/Sub", address: serverName(pubsub), connectTimeoutMs };
    this.#ownsPubSub = ownsPubSub;
    this.#resource = resource;
    this.#Client = Client;
  }

  /**
   * Runs one RPC. It settles when the RPC does, or rejects with Canceled as
   * soon as `signal` fires: the RPC then runs out in the background (bounded by
   * its deadline) and `abandoned` gets its result, for what must not be lost.
   * Reports the outcome to health: success is `ready`, a retryable failure
   * (the connection dropped) `reconnecting`.
   */
  call<T>(
    operation: string,
    rpc: (client: C) => Promise<T>,
    signal: AbortSignal,
    abandoned?: (result: T) => void,
  ): Promise<T> {
    if (this.#closing) {
      return Promise.reject(new PubSubError(ErrorCode.FailedPrecondition, `${operation}: ${this.#resource} is closed`));
    }
    if (signal.aborted) return Promise.reject(canceledError(operation, signal));
    const running = this.#client$().then(rpc);
    this.#inFlight.add(running);
    running.then(
      () => {
        this.#inFlight.delete(running);
        this.health.set("ready");
      },
      (err: unknown) => {
        this.#inFlight.delete(running);
        if (gcpErrors.isRetryable(err)) this.health.set("reconnecting", err instanceof Error ? err : undefined);
      },
    );
    if (abandoned) handOverIfAbandoned(running, signal, abandoned);
    return raceSignal(running, signal, operation);
  }

  /**
   * Refuses new calls, waits for those in flight (each is bounded by its
   * deadline) or for `signal`, then closes the generated client and, if the
   * driver built it, the PubSub client. Returns only after that.
   */
  close(signal: AbortSignal): Promise<void> {
    this.#closing ??= this.#close(signal);
    return this.#closing;
  }

  async #close(signal: AbortSignal): Promise<void> {
    if (this.#inFlight.size > 0) await settledWithin(Promise.allSettled([...this.#inFlight]), signal);
    this.health.set("closed");
    const client = this.#client;
    this.#client = undefined;
    if (client && !this.#stillShared()) await client.then((c) => c.close()).catch(() => {});
    if (this.#ownsPubSub) await this.pubsub.close().catch(() => {});
  }

  /**
   * Resolves once the gRPC channel to the endpoint is connected (TCP, TLS,
   * HTTP/2), which needs no permission on any resource: what `ready` checks.
   * Rejects with UNAVAILABLE as soon as a connection attempt fails, and
   * with the credentials' error when there are none. The portable layer
   * bounds the wait by `server.connectTimeoutMs`, which also ends the
   * channel watch behind it.
   */
  async reachable(signal: AbortSignal): Promise<void> {
    const client = await raceSignal(this.#client$(), signal, "open");
    const stub = await raceSignal((client as unknown as StubHolder).initialize(), signal, "open");
    const channel = stub.getChannel();
    const deadline = Date.now() + this.server.connectTimeoutMs;
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (signal.aborted) return;
        const state = channel.getConnectivityState(true);
        if (state === READY) {
          this.health.set("ready");
          resolve();
        } else if (state === TRANSIENT_FAILURE || state === SHUTDOWN) reject(unreachable(this.pubsub));
        else channel.watchConnectivityState(state, deadline, (err) => (err ? undefined : check()));
      };
      check();
    });
  }

  #client$(): Promise<C> {
    this.#client ??= this.#ownsPubSub ? this.#shared() : this.#build();
    return this.#client;
  }

  /** The generated client shared by the drivers with equal PubSub settings; this driver counts as one more user. */
  #shared(): Promise<C> {
    const key = `${this.#Client.name}\u0000${JSON.stringify(this.pubsub.options)}`;
    let entry = sharedClients.get(key);
    if (entry === undefined) {
      const created = { client: this.#build() as Promise<GapicClient>, users: 0 };
      created.client.catch(() => {
        if (sharedClients.get(key) === created) sharedClients.delete(key);
      });
      sharedClients.set(key, created);
      entry = created;
    }
    entry.users++;
    this.#sharedAs = key;
    const counted = entry;
    return (counted.client as Promise<C>).catch((err: unknown) => {
      // Not remembered: the next call builds (and counts) again.
      counted.users--;
      this.#sharedAs = undefined;
      this.#client = undefined;
      throw err;
    });
  }

  /** Counts this driver out of its shared client; true when others still use it, so it must stay open. */
  #stillShared(): boolean {
    const key = this.#sharedAs;
    const entry = key === undefined ? undefined : sharedClients.get(key);
    if (key === undefined || entry === undefined) return false;
    this.#sharedAs = undefined;
    if (--entry.users > 0) return true;
    sharedClients.delete(key);
    return false;
  }

  #build(): Promise<C> {
    const client = this.#credentials()
      .then(() => this.pubsub.getClientConfig())
      // PubSub builds its own clients from this very configuration.
      .then((config) => new this.#Client(config as ConstructorParameters<GapicClass<C>>[0]))
      .catch((err: unknown) => {
        // Not remembered: credentials may be provided later, and the next call tries again.
        if (this.#client === client) this.#client = undefined;
        throw err;
      });
    return client;
  }

  /**
   * Loads Application Default Credentials before any generated client exists:
   * when there are none, the generated client throws from a callback, outside
   * any promise we could catch, and takes the process down.
   */
  async #credentials(): Promise<void> {
    if (this.pubsub.isEmulator) return;
    try {
      await this.pubsub.auth.getClient();
    } catch (err) {
      throw new PubSubError(
        ErrorCode.FailedPrecondition,
        `${this.#resource}: no Google Cloud credentials (${err instanceof Error ? err.message.split(". ")[0] : String(err)}); ` +
          "set GOOGLE_APPLICATION_CREDENTIALS or run on Google Cloud, or set PUBSUB_EMULATOR_HOST for the emulator",
        { cause: err },
      );
    }
  }
}

/**
 * Gives `abandoned` the result of `running` if `signal` fires before it
 * settles, that is, when the caller (raced by raceSignal against the same
 * signal) stopped waiting for it.
 */
function handOverIfAbandoned<T>(running: Promise<T>, signal: AbortSignal, abandoned: (result: T) => void): void {
  const onAbort = () => {
    running.then(abandoned, () => {});
  };
  signal.addEventListener("abort", onAbort, { once: true });
  const stop = () => signal.removeEventListener("abort", onAbort);
  running.then(stop, stop);
}

/** What `initialize()` of a generated client resolves with: a gRPC client, whose channel reports its state. */
interface StubHolder {
  initialize(): Promise<{ getChannel(): GrpcChannel }>;
}

/** The part of @grpc/grpc-js's Channel that `reachable` watches. */
interface GrpcChannel {
  getConnectivityState(tryToConnect: boolean): number;
  watchConnectivityState(current: number, deadline: number, callback: (err?: Error) => void): void;
}

/** gRPC connectivity states (grpc-js's ConnectivityState). */
const READY = 2;
const TRANSIENT_FAILURE = 3;
const SHUTDOWN = 4;

/** A failed connection attempt, as the gRPC status UNAVAILABLE that an RPC would have failed with. */
function unreachable(pubsub: PubSub): Error {
  return Object.assign(new Error(`14 UNAVAILABLE: cannot connect to Pub/Sub at ${serverName(pubsub)}`), {
    code: GrpcStatus.UNAVAILABLE,
  });
}

/** The endpoint as `host:port`, for messages. */
export function serverName(pubsub: PubSub): string {
  const { serverAddress, serverPort } = serverOf(pubsub);
  return serverPort === undefined ? serverAddress : `${serverAddress}:${serverPort}`;
}

/** Google's endpoint, where a client that names none sends its RPCs. */
const GOOGLE_ENDPOINT = { serverAddress: "pubsub.googleapis.com", serverPort: 443 };

/** `server.address` and `server.port` of a client's endpoint, for spans and metrics. */
export function serverOf(pubsub: PubSub): { serverAddress: string; serverPort?: number } {
  const { servicePath, port, apiEndpoint } = pubsub.options as {
    servicePath?: string;
    port?: number;
    apiEndpoint?: string;
  };
  const address = servicePath ?? apiEndpoint?.replace(/:\d+$/, "");
  if (!address) return GOOGLE_ENDPOINT;
  return { serverAddress: address, ...(Number.isFinite(port) ? { serverPort: port } : {}) };
}

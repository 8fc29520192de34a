import { type ConnectionOptions, connect, type NatsConnection } from "@nats-io/transport-node";
import { DEFAULT_CONNECT_TIMEOUT_MS, invalidArgument } from "@portable-pubsub/core/driver";

/** The environment variable that names the NATS server(s) of `nats://` URLs. */
export const SERVER_URL_ENV = "NATS_SERVER_URL";
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

/** Where and as whom to connect: what a server URL list says, credentials apart from the addresses. */
export interface ServerSettings {
  /** `host:port` of each server, in order. */
  readonly servers: string[];
  readonly user?: string;
  readonly pass?: string;
  readonly token?: string;
  readonly tls: boolean;
  /** The servers as messages name them, never with credentials. */
  readonly display: string;
}

const EXPECTED =
  'expected nats://[user:password@]host[:port] or tls://…, several separated by commas, with "%", "/", "?", "#" and "@" in a user name or password percent-encoded';

function decode(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw invalidArgument(`nats: a server URL has a badly percent-encoded ${what}; ${EXPECTED}`);
  }
}

/**
 * Parses NATS_SERVER_URL or the `serverUrl` option: one or several
 * comma-separated `nats://[user:password@]host[:port]` (or `tls://`, or a
 * bare `host:port`). nats.js takes no credentials from URLs, so this takes
 * them out (a user without a password is a token, as in the other NATS
 * clients); they must be the same on every URL that has them. No message
 * echoes what may hold a password.
 */
export function parseServerUrls(value: string): ServerSettings {
  const parts = value.split(",").map((p) => p.trim());
  if (parts.some((p) => p === "")) throw invalidArgument(`nats: the server URL list has an empty entry; ${EXPECTED}`);
  const servers: string[] = [];
  const shown: string[] = [];
  let credentials: { user?: string; pass?: string; token?: string } | undefined;
  let tls: boolean | undefined;
  for (const part of parts) {
    let url: URL;
    try {
      url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(part) ? part : `nats://${part}`);
    } catch {
      throw invalidArgument(`nats: a server URL is not a valid URL; ${EXPECTED}`);
    }
    const scheme = url.protocol.toLowerCase();
    if (scheme !== "nats:" && scheme !== "tls:") {
      throw invalidArgument(`nats: a server URL must start with nats:// or tls://, not ${scheme}//; ${EXPECTED}`);
    }
    if (!url.hostname) throw invalidArgument(`nats: a server URL names no host; ${EXPECTED}`);
    const display = `${scheme}//${url.username || url.password ? "***@" : ""}${url.host}`;
    if ((url.pathname !== "" && url.pathname !== "/") || url.search || url.hash) {
      throw invalidArgument(
        `nats: server URL ${display} has a path, query or fragment; it takes none (other nats.js settings go in the natsOptions option); ${EXPECTED}`,
      );
    }
    const isTls = scheme === "tls:";
    if (tls !== undefined && tls !== isTls) {
      throw invalidArgument(`nats: the server URLs mix nats:// and tls://; use one scheme for all`);
    }
    tls = isTls;
    if (url.username || url.password) {
      const user = decode(url.username, "user name");
      const pass = decode(url.password, "password");
      const found = url.password ? { user, pass } : { token: user };
      if (credentials && JSON.stringify(credentials) !== JSON.stringify(found)) {
        throw invalidArgument(
          "nats: the server URLs carry different credentials; nats.js connects to all with one, so give the same on each (or on one)",
        );
      }
      credentials = found;
    }
    const port = url.port || "4222";
    servers.push(`${url.hostname}:${port}`);
    shown.push(`${scheme}//${url.hostname}:${port}`);
  }
  return { servers, ...credentials, tls: tls ?? false, display: shown.join(",") };
}

/** The server settings from the `serverUrl` option, else NATS_SERVER_URL; InvalidArgument when neither is set. */
export function resolveServers(serverUrl: string | undefined): ServerSettings {
  const value = serverUrl ?? process.env[SERVER_URL_ENV];
  if (value === undefined || value.trim() === "") {
    throw invalidArgument(
      `nats: no NATS server; set ${SERVER_URL_ENV} (such as nats://localhost:4222) or pass the serverUrl option`,
    );
  }
  return parseServerUrls(value);
}

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

/** `host` and `port` of a `host:port`, for telemetry. */
export function splitHostPort(server: string | undefined): { serverAddress?: string; serverPort?: number } {
  if (!server) return {};
  const match = /^\[?([^\]]*?)\]?:(\d+)$/.exec(server);
  if (!match) return { serverAddress: server };
  return { serverAddress: match[1], serverPort: Number(match[2]) };
}

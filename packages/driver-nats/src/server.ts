/**
 * Where the NATS servers are: the `serverUrl` option or NATS_SERVER_URL,
 * parsed into addresses and credentials, and how messages name the servers
 * without credentials.
 */
import { invalidArgument } from "@portable-pubsub/core/driver";

/** The environment variable that names the NATS server(s) of `nats://` URLs. */
export const SERVER_URL_ENV = "NATS_SERVER_URL";
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
  'expected nats://[user:password@]host[:port] or tls://…, several separated by commas, with "%", "/", "?", "#", "@" and "," in a user name or password percent-encoded';

function decode(part: string, what: string, label: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw invalidArgument(`nats: ${label} has a badly percent-encoded ${what}; ${EXPECTED}`);
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
  const servers: string[] = [];
  const shown: string[] = [];
  let credentials: { user?: string; pass?: string; token?: string } | undefined;
  let tls: boolean | undefined;
  parts.forEach((part, i) => {
    // In a list, each message says which entry is wrong: "server URL 2 of 3".
    const label = parts.length === 1 ? "the server URL" : `server URL ${i + 1} of ${parts.length}`;
    if (part === "") throw invalidArgument(`nats: ${label} is empty; ${EXPECTED}`);
    const url = parseOne(part, label);
    const scheme = url.protocol.toLowerCase();
    const display = `${scheme}//${url.username || url.password ? "***@" : ""}${url.host}`;
    if ((url.pathname !== "" && url.pathname !== "/") || url.search || url.hash) {
      throw invalidArgument(
        `nats: ${label} ${display} has a path, query or fragment; it takes none (other nats.js settings go in the natsOptions option); ${EXPECTED}`,
      );
    }
    const isTls = scheme === "tls:";
    if (tls !== undefined && tls !== isTls) {
      throw invalidArgument(
        `nats: ${label} ${display} is ${scheme}// and the ones before it are not; use one scheme for all`,
      );
    }
    tls = isTls;
    if (url.username || url.password) {
      const user = decode(url.username, "user name", label);
      const pass = decode(url.password, "password", label);
      const found = url.password ? { user, pass } : { token: user };
      if (credentials && JSON.stringify(credentials) !== JSON.stringify(found)) {
        throw invalidArgument(
          `nats: ${label} ${display} carries other credentials than the one before it; nats.js connects to all with one, so give the same on each (or on one)`,
        );
      }
      credentials = found;
    }
    const port = url.port || "4222";
    servers.push(`${url.hostname}:${port}`);
    shown.push(`${scheme}//${url.hostname}:${port}`);
  });
  return { servers, ...credentials, tls: tls ?? false, display: shown.join(",") };
}

/**
 * One entry of the list as a URL (a bare `host:port` is read as nats://),
 * or InvalidArgument naming it by `label`, never showing what may be a password.
 */
function parseOne(part: string, label: string): URL {
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(part);
  let url: URL;
  try {
    url = new URL(hasScheme ? part : `nats://${part}`);
  } catch {
    // Named by its place only: where an unencoded "?", "#", "/" or "," cut a password, no part of the
    // entry can be shown safely. Nor is Node's error the cause: its `input` holds the whole entry.
    throw invalidArgument(`nats: ${label} is not a valid URL; ${EXPECTED}`);
  }
  const scheme = url.protocol.toLowerCase();
  if (scheme !== "nats:" && scheme !== "tls:") {
    throw invalidArgument(`nats: ${label} must start with nats:// or tls://, not ${scheme}//; ${EXPECTED}`);
  }
  if (!url.hostname) throw invalidArgument(`nats: ${label} names no host; ${EXPECTED}`);
  // nats://u:123?x@h parses as host u, port 123 (the password's start), query ?x@h: echo nothing of it.
  if (`${url.pathname}${url.search}${url.hash}`.includes("@")) {
    throw invalidArgument(
      `nats: ${label} has an "@" after its host, so part of its password was read as the host, port or path; ${EXPECTED}`,
    );
  }
  return url;
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

/** `host` and `port` of a `host:port`, for telemetry. */
export function splitHostPort(server: string | undefined): { serverAddress?: string; serverPort?: number } {
  if (!server) return {};
  const match = /^\[?([^\]]*?)\]?:(\d+)$/.exec(server);
  if (!match) return { serverAddress: server };
  return { serverAddress: match[1], serverPort: Number(match[2]) };
}

import { decodeName, invalidArgument } from "@portable-pubsub/core/driver";
import { parseTopologyUrl, TOPOLOGY_SCHEME, type Topology } from "./sentinel-cluster.js";

/** What a server URL names: one server (its URL, normalized), or several (Sentinel, Cluster). */
export type ServerTarget = string | Topology;

/** The environment variable that names the Redis server of `redisstream://` URLs. */
export const SERVER_URL_ENV = "REDIS_SERVER_URL";

/** What a server URL should look like, for messages. */
const EXPECTED =
  'expected redis://[user:password@]host[:port][/db], rediss://…, redis-sentinel://[user:password@]host[:port][,host[:port]…]/MASTER_NAME or redis-cluster://[user:password@]host[:port][,host[:port]…], with "%", "/", "?", "#" and "@" in the user name or password percent-encoded';

/**
 * Checks a server URL: redis:// or rediss://, with a host, an optional
 * numeric db as its path, user information that percent-decodes, and no
 * query. ioredis would take every query parameter as an option, over the
 * driver's own (`?password=`, `?maxRetriesPerRequest=`): those go in the
 * user information and the redisOptions option instead. No message echoes
 * what may hold a password: not the user information, nor the rest of a URL
 * whose password was not percent-encoded.
 */
export function checkServerUrl(serverUrl: string): URL {
  let url: URL;
  try {
    url = new URL(serverUrl);
  } catch {
    // Neither echoed nor attached as the cause (Node's error keeps the whole input): where its password ends cannot be told.
    throw invalidArgument(`redisstream: the server URL is not a valid URL; ${EXPECTED}`);
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    // Without "//" the "scheme" may well be a user name (user:password@host): do not echo it.
    const given = serverUrl.trim().slice(url.protocol.length).startsWith("//") ? `, not ${url.protocol}//` : "";
    throw invalidArgument(
      `redisstream: the server URL must start with redis:// or rediss:// (TLS)${given}; ${EXPECTED}`,
    );
  }
  if (!url.hostname)
    throw invalidArgument(`redisstream: the server URL names no host after ${url.protocol}//; ${EXPECTED}`);
  if (`${url.pathname}${url.search}${url.hash}`.includes("@")) {
    throw invalidArgument(
      `redisstream: the server URL has an "@" after its host, so part of its password was read as the host, db or query; ${EXPECTED}`,
    );
  }
  const display = `${url.protocol}//${url.username || url.password ? "***@" : ""}${url.host}${url.pathname}`;
  for (const key of url.searchParams.keys()) {
    throw invalidArgument(
      `redisstream: server URL ${display} has query parameter "${key}"; it takes none: give a password in the user information (redis://:PASSWORD@host, percent-encoded) and other ioredis settings in the redisOptions option`,
    );
  }
  if (!/^\/?(\d{1,9})?$/.test(url.pathname)) {
    throw invalidArgument(
      `redisstream: server URL ${display} has a path that is not a db number, such as /0; ${EXPECTED}`,
    );
  }
  // ioredis decodes these itself, and a bad escape would be a raw URIError from its constructor.
  const describe = () => `redisstream: server URL ${display} has badly percent-encoded user information`;
  decodeName(url.username, describe);
  decodeName(url.password, describe);
  return url;
}

/**
 * The server URL from the `serverUrl` option or REDIS_SERVER_URL, checked:
 * a `redis-sentinel://` or `redis-cluster://` URL parsed into its servers,
 * another normalized for ioredis, which enables TLS only for a lower-case
 * `rediss://`, so `REDISS://` would otherwise connect in plain text.
 */
export function resolveServerUrl(serverUrl: string | undefined): ServerTarget {
  const value = serverUrl ?? process.env[SERVER_URL_ENV];
  if (value === undefined || value.trim() === "") {
    throw invalidArgument(
      `redisstream: no Redis server; set ${SERVER_URL_ENV} (such as redis://localhost:6379) or pass the serverUrl option`,
    );
  }
  if (TOPOLOGY_SCHEME.test(value)) return parseTopologyUrl(value);
  const url = checkServerUrl(value);
  url.hash = "";
  return url.href;
}

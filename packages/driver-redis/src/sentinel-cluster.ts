import { decodeName, invalidArgument } from "@portable-pubsub/core/driver";
import { Cluster, Redis, type RedisOptions } from "ioredis";

/** One `host:port` of a Sentinel or Cluster server URL. */
export interface HostPort {
  host: string;
  port: number;
}

/**
 * A server URL that names several servers: the Sentinels that know a
 * master (`redis-sentinel://`), or some nodes of a Redis Cluster
 * (`redis-cluster://`). The user information is the data nodes' user and
 * password, percent-decoded.
 */
export type Topology =
  | { kind: "sentinel"; sentinels: HostPort[]; masterName: string; username?: string; password?: string }
  | { kind: "cluster"; nodes: HostPort[]; username?: string; password?: string };

/** The schemes of server URLs that name several servers, as a pattern matched at the start of a URL. */
export const TOPOLOGY_SCHEME = /^\s*(redis-sentinel|redis-cluster):\/\//i;

const EXPECTED_SENTINEL = "redis-sentinel://[user:password@]host[:port][,host[:port]…]/MASTER_NAME";
const EXPECTED_CLUSTER = "redis-cluster://[user:password@]host[:port][,host[:port]…]";

/**
 * Parses `redis-sentinel://[user:password@]host[:port][,host[:port]…]/MASTER_NAME`
 * (Sentinel's port defaults to 26379) or
 * `redis-cluster://[user:password@]host[:port][,host[:port]…]` (6379).
 * Node's URL parser takes one host only, so this reads the list itself. No
 * message echoes the user information, nor anything after an "@" that may be
 * part of a password whose "/" was not percent-encoded.
 */
export function parseTopologyUrl(serverUrl: string): Topology {
  const value = serverUrl.trim();
  const scheme = (TOPOLOGY_SCHEME.exec(value)?.[1] ?? "").toLowerCase();
  const sentinel = scheme === "redis-sentinel";
  const expected = sentinel ? EXPECTED_SENTINEL : EXPECTED_CLUSTER;
  const rest = value.slice(value.indexOf("://") + 3);
  const slash = rest.indexOf("/");
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? "" : rest.slice(slash + 1);
  if (/[@?#]/.test(path) || /[?#]/.test(authority)) {
    throw invalidArgument(
      `redisstream: the ${scheme}:// server URL has an "@", "?" or "#" after its hosts: it takes no query, and a password needs "/", "?", "#" and "@" percent-encoded; expected ${expected}`,
    );
  }
  const at = authority.lastIndexOf("@");
  const userInfo = at < 0 ? undefined : authority.slice(0, at);
  const hostList = authority.slice(at + 1);
  const display = `${scheme}://${userInfo === undefined ? "" : "***@"}${hostList}`;
  const hosts = hostList.split(",").map((entry) => parseHostPort(entry, sentinel ? 26379 : 6379, display, expected));
  const credentials = userCredentials(userInfo, display);
  if (sentinel) {
    const describe = () => `redisstream: server URL ${display} has a badly percent-encoded master name`;
    const masterName = decodeName(path, describe);
    if (masterName === "" || masterName.includes("/")) {
      throw invalidArgument(
        `redisstream: server URL ${display} names no master: give the name Sentinel monitors as its path; expected ${expected}`,
      );
    }
    return { kind: "sentinel", sentinels: hosts, masterName, ...credentials };
  }
  if (path !== "") {
    throw invalidArgument(
      `redisstream: server URL ${display} has a path; a Redis Cluster has only db 0, so it takes none; expected ${expected}`,
    );
  }
  return { kind: "cluster", nodes: hosts, ...credentials };
}

function parseHostPort(entry: string, defaultPort: number, display: string, expected: string): HostPort {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+))(?::(\d{1,5}))?$/.exec(entry);
  const port = match?.[3] === undefined ? defaultPort : Number(match[3]);
  const host = match?.[1] ?? match?.[2];
  if (host === undefined || port < 1 || port > 65535) {
    throw invalidArgument(
      `redisstream: server URL ${display} has a host that is not host[:port] (${entry === "" ? "an empty one" : `"${entry}"`}); expected ${expected}`,
    );
  }
  return { host, port };
}

function userCredentials(userInfo: string | undefined, display: string): { username?: string; password?: string } {
  if (userInfo === undefined) return {};
  const describe = () => `redisstream: server URL ${display} has badly percent-encoded user information`;
  const colon = userInfo.indexOf(":");
  const user = decodeName(colon < 0 ? userInfo : userInfo.slice(0, colon), describe);
  const password = colon < 0 ? undefined : decodeName(userInfo.slice(colon + 1), describe);
  return { ...(user ? { username: user } : {}), ...(password ? { password } : {}) };
}

/** How messages name a topology's servers: its URL without credentials. */
export function describeTopology(topology: Topology): string {
  const list = (hosts: HostPort[]) =>
    hosts.map(({ host, port }) => `${host.includes(":") ? `[${host}]` : host}:${port}`).join(",");
  return topology.kind === "sentinel"
    ? `redis-sentinel://${list(topology.sentinels)}/${topology.masterName}`
    : `redis-cluster://${list(topology.nodes)}`;
}

/** Reconnects on READONLY: the server is a replica now, so Sentinel is asked for the new master. */
const reconnectOnReadOnly = (err: Error) => (err.message.startsWith("READONLY") ? 1 : false);

/**
 * Opens the ioredis client of a topology with the driver's `options`;
 * `extra` (the user's) wins. For Sentinel, a Redis client that asks the
 * Sentinels for the master on every (re)connection, hears of failovers
 * (`failoverDetector`), and reconnects when the server it talks to turned
 * replica. For a Cluster, an ioredis Cluster whose node connections take
 * these options, and which waits out a failover (a node gone, CLUSTERDOWN)
 * with slot refreshes rather than failing at once.
 */
export function openTopologyClient(topology: Topology, options: RedisOptions, extra: RedisOptions): Redis | Cluster {
  const { username, password } = topology;
  const credentials = { ...(username ? { username } : {}), ...(password ? { password } : {}) };
  if (topology.kind === "sentinel") {
    return new Redis({
      ...options,
      sentinels: topology.sentinels,
      name: topology.masterName,
      ...credentials,
      failoverDetector: true,
      reconnectOnError: reconnectOnReadOnly,
      ...extra,
    });
  }
  return new Cluster(topology.nodes, {
    redisOptions: { ...options, ...credentials, ...extra },
    enableOfflineQueue: true,
    clusterRetryStrategy: options.retryStrategy as (times: number) => number,
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 200,
    slotsRefreshInterval: 1000,
  });
}

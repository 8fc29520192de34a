/**
 * The cluster part of `pubsub doctor` for nats://: which JetStream cluster
 * the doctor's server belongs to and its servers (as that server announces
 * them to clients in INFO), and how many servers hold a stream and which one
 * leads it. A stream of one replica on a cluster is warned of: it lives on
 * one server, and is unavailable while that server is down.
 */
import type { PeerInfo, StreamInfo } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Check } from "@portable-pubsub/core/driver";

/** The cluster the connection's server is in: its name and client addresses; undefined for a server on its own. */
export interface ClusterView {
  readonly name: string;
  /** The client addresses (`host:port`) of the cluster's servers, sorted. */
  readonly servers: string[];
  /** The name of the server the doctor is connected to. */
  readonly connectedTo: string;
}

/**
 * The cluster `nc` is connected to, from the server's INFO: `cluster` names
 * it and `connect_urls` lists every server's client address (the server
 * itself included). Undefined when the server is in no cluster.
 */
export function clusterOf(nc: NatsConnection): ClusterView | undefined {
  const info = nc.info;
  if (!info?.cluster) return undefined;
  const servers = [...new Set(info.connect_urls ?? [`${info.host}:${info.port}`])].sort();
  return { name: info.cluster, servers, connectedTo: info.server_name ?? info.server_id };
}

/** The "cluster" check: the cluster's name, its servers, and the one the doctor is connected to. */
export function clusterCheck(cluster: ClusterView): Check {
  return {
    subject: "cluster",
    status: "ok",
    detail: `cluster "${cluster.name}" of ${cluster.servers.length} servers: ${cluster.servers.join(", ")}; connected to ${cluster.connectedTo}`,
  };
}

function peer(p: PeerInfo): string {
  if (p.offline) return `${p.name} (offline)`;
  return p.current ? `${p.name} (current)` : `${p.name} (behind by ${p.lag ?? "?"} operations)`;
}

/**
 * The "replicas" check of stream `info` on `cluster`: how many servers hold
 * it, which one leads it, and how the others keep up. Warns of a stream of
 * one replica (lost with its server), of replicas offline or behind, and of
 * a stream without a leader (sends wait until one is elected). Undefined for
 * a server on its own, where one replica is all there is.
 */
export function replicasCheck(info: StreamInfo, cluster: ClusterView | undefined): Check | undefined {
  if (!cluster) return undefined;
  const name = info.config.name;
  const replicas = info.config.num_replicas || 1;
  const leader = info.cluster?.leader;
  if (replicas === 1) {
    return {
      subject: "replicas",
      status: "warn",
      detail: `stream "${name}" has 1 replica on a cluster of ${cluster.servers.length} servers: it lives on ${leader ? `server ${leader}` : "one server"} only, is unavailable while that server is down, and is lost with it`,
      fix: `give it replicas: nats stream edit ${name} --replicas 3 (or create streams with declare=true&replicas=3)`,
    };
  }
  const followers = (info.cluster?.replicas ?? [])
    .filter((p) => p.name !== leader)
    .sort((a, b) => a.name.localeCompare(b.name));
  const detail = `stream "${name}" has ${replicas} replicas: leader ${leader ?? "none"}${followers.length ? `, ${followers.map(peer).join(", ")}` : ""}`;
  if (!leader) {
    return {
      subject: "replicas",
      status: "warn",
      detail: `${detail}: no leader, so sends wait until the servers elect one`,
      fix: `start the stream's servers that are down; a majority (${Math.floor(replicas / 2) + 1} of ${replicas}) elects a leader`,
    };
  }
  if (followers.some((p) => p.offline || !p.current)) {
    return {
      subject: "replicas",
      status: "warn",
      detail: `${detail}: not every replica is current, so losing another server may stop the stream`,
      fix: "start the stream's servers that are down, and wait until their replicas are current again",
    };
  }
  return { subject: "replicas", status: "ok", detail };
}

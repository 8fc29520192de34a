/**
 * A JetStream cluster of a test's own: three (or `size`) nats-servers from
 * own-server.ts on free ports, each with its own store folder, one cluster
 * name and routes to the others, and a monitoring port whose /jsz says who
 * leads the JetStream meta group. `close` kills them and removes their
 * folders (and a test process that dies kills them on exit); the shared
 * server on 4222 is never touched.
 */
import { randomBytes } from "node:crypto";
import { type JetStreamManager, jetstreamManager, type StreamInfo } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { freePorts } from "@portable-pubsub/conformance";
import { type OwnServer, startOwnServer } from "./own-server.js";

export interface ClusterNode {
  /** The server_name, as stream info names leaders and replicas. */
  readonly name: string;
  readonly port: number;
  readonly url: string;
  readonly server: OwnServer;
  /** The HTTP monitoring port (/jsz). */
  readonly monitorPort: number;
}

/** What /jsz says of the JetStream meta group, as far as the harness reads it. */
interface MetaCluster {
  leader?: string;
  replicas?: { name: string; current: boolean; offline?: boolean }[];
}

/** Polls `check` until it returns true (an error counts as false); rejects naming `what` and the last error after `ms`. */
export async function until(check: () => Promise<boolean> | boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ""}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export class NatsCluster {
  readonly name: string;
  readonly nodes: readonly ClusterNode[];
  #admin: { nc: NatsConnection; jsm: JetStreamManager } | undefined;

  private constructor(name: string, nodes: ClusterNode[]) {
    this.name = name;
    this.nodes = nodes;
  }

  /** Every node's client URL, comma-separated: the `serverUrl` of a client of the whole cluster. */
  get serverUrl(): string {
    return this.nodes.map((n) => n.url).join(",");
  }

  /**
   * Starts `size` nodes at once (each routes to all, itself included, which
   * nats-server skips) and waits until they elected a meta leader that sees
   * every other node current.
   */
  static async start(size = 3, timeoutMs = 60_000): Promise<NatsCluster> {
    const name = `pps-${randomBytes(3).toString("hex")}`;
    const ports = await freePorts(size * 3);
    const client = ports.slice(0, size);
    const route = ports.slice(size, size * 2);
    const monitor = ports.slice(size * 2);
    const routes = route.map((p) => `"nats-route://127.0.0.1:${p}"`).join(", ");
    const started = await Promise.allSettled(
      client.map((port, i) =>
        startOwnServer(
          [
            `server_name: n${i + 1}`,
            `http: "127.0.0.1:${monitor[i]}"`,
            `cluster { name: ${name}, listen: "127.0.0.1:${route[i]}", routes: [${routes}] }`,
          ].join("\n"),
          { port },
        ),
      ),
    );
    const nodes = started.flatMap((s, i) =>
      s.status === "fulfilled"
        ? [
            {
              name: `n${i + 1}`,
              port: client[i] as number,
              url: s.value.url,
              server: s.value,
              monitorPort: monitor[i] as number,
            },
          ]
        : [],
    );
    const cluster = new NatsCluster(name, nodes);
    try {
      const failed = started.find((s) => s.status === "rejected");
      if (failed) throw (failed as PromiseRejectedResult).reason;
      await cluster.waitMetaLeader(timeoutMs);
      return cluster;
    } catch (err) {
      await cluster.close();
      throw err;
    }
  }

  /** What node `node`'s /jsz says of the meta group; undefined when it does not answer. */
  async meta(node: ClusterNode): Promise<MetaCluster | undefined> {
    const response = await fetch(`http://127.0.0.1:${node.monitorPort}/jsz`, { signal: AbortSignal.timeout(2000) });
    return ((await response.json()) as { meta_cluster?: MetaCluster }).meta_cluster;
  }

  /** Waits until every running node names the same meta leader, and that leader sees the other running nodes current. */
  async waitMetaLeader(timeoutMs = 60_000): Promise<string> {
    let leader: string | undefined;
    const up = () => this.nodes.filter((n) => n.server.running);
    await until(
      async () => {
        const metas = await Promise.all(up().map((n) => this.meta(n)));
        leader = metas[0]?.leader;
        if (!leader || metas.some((m) => m?.leader !== leader)) return false;
        const ofLeader = metas[up().findIndex((n) => n.name === leader)];
        const others = up().filter((n) => n.name !== leader);
        return others.every((n) => ofLeader?.replicas?.some((r) => r.name === n.name && r.current && !r.offline));
      },
      timeoutMs,
      `a JetStream meta leader of cluster ${this.name} that sees every running node current`,
    );
    return leader as string;
  }

  /** An admin connection to the whole cluster, made once, for stream info and setup. */
  async jsm(): Promise<JetStreamManager> {
    if (!this.#admin) {
      const nc = await connect({
        servers: this.nodes.map((n) => `127.0.0.1:${n.port}`),
        maxReconnectAttempts: -1,
        reconnectTimeWait: 200,
      });
      this.#admin = { nc, jsm: await jetstreamManager(nc, { timeout: 3000 }) };
    }
    return this.#admin.jsm;
  }

  /** JetStream's stream info (`cluster.leader`, `cluster.replicas`) of `stream`. */
  async streamInfo(stream: string): Promise<StreamInfo> {
    return (await this.jsm()).streams.info(stream);
  }

  /** The node that leads `stream`, waiting (up to `timeoutMs`) until one does. */
  async streamLeader(stream: string, timeoutMs = 30_000): Promise<ClusterNode> {
    let leader: ClusterNode | undefined;
    await until(
      async () => {
        const name = (await this.streamInfo(stream)).cluster?.leader;
        leader = this.nodes.find((n) => n.name === name);
        return leader !== undefined;
      },
      timeoutMs,
      `a leader of stream ${stream}`,
    );
    return leader as ClusterNode;
  }

  /**
   * Waits until the running nodes' /jsz agree that a node other than `old`
   * leads `stream` (the monitoring port answers at once, where a JetStream
   * API request waits out its timeout while the stream has no leader); returns it.
   */
  async waitNewLeader(stream: string, old: ClusterNode, timeoutMs = 60_000): Promise<ClusterNode> {
    let leader: ClusterNode | undefined;
    await until(
      async () => {
        const seen = await Promise.all(
          this.nodes
            .filter((n) => n.server.running)
            .map(async (n) => {
              const url = `http://127.0.0.1:${n.monitorPort}/jsz?accounts=true&streams=true`;
              const jsz = (await (await fetch(url, { signal: AbortSignal.timeout(2000) })).json()) as {
                account_details?: { stream_detail?: { name: string; cluster?: { leader?: string } }[] }[];
              };
              const details = (jsz.account_details ?? []).flatMap((a) => a.stream_detail ?? []);
              return details.find((d) => d.name === stream)?.cluster?.leader;
            }),
        );
        leader = this.nodes.find((n) => n.name === seen[0]);
        return leader !== undefined && leader !== old && seen.every((name) => name === leader?.name);
      },
      timeoutMs,
      `a leader of stream ${stream} other than ${old.name}`,
    );
    return leader as ClusterNode;
  }

  /** Waits until `stream` has a leader on a running node and every other replica is current (caught up). */
  async waitStreamCurrent(stream: string, timeoutMs = 60_000): Promise<void> {
    await until(
      async () => {
        const { cluster, config } = await this.streamInfo(stream);
        const leader = this.nodes.find((n) => n.name === cluster?.leader);
        if (!leader?.server.running) return false;
        const followers = (cluster?.replicas ?? []).filter((p) => p.name !== leader.name);
        return followers.length === (config.num_replicas || 1) - 1 && followers.every((p) => p.current && !p.offline);
      },
      timeoutMs,
      `every replica of stream ${stream} to be current`,
    );
  }

  /** Kills every node and removes their folders. */
  async close(): Promise<void> {
    await this.#admin?.nc.close().catch(() => {});
    this.#admin = undefined;
    await Promise.all(this.nodes.map((n) => n.server.stop()));
  }
}

/**
 * A Redis Cluster of a test's own: three masters with a replica each,
 * made with `redis-cli --cluster create … --cluster-replicas 1`. Each node
 * has its own client and cluster-bus ports (`cluster-port`), folder and
 * nodes.conf; a replica takes over one second after its master stops
 * answering (`cluster-node-timeout 1000`).
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePorts } from "@portable-pubsub/conformance";
import { ask, RedisProcesses, until } from "./redis-processes.js";

const run = promisify(execFile);

export class ClusterSetup {
  readonly #processes: RedisProcesses;
  /** The client ports of the six nodes. */
  readonly nodes: readonly number[];

  private constructor(processes: RedisProcesses, nodes: number[]) {
    this.#processes = processes;
    this.nodes = nodes;
  }

  /** `redis-cluster://127.0.0.1:P1,…` of every node. */
  get serverUrl(): string {
    return `redis-cluster://${this.nodes.map((p) => `127.0.0.1:${p}`).join(",")}`;
  }

  static async start(): Promise<ClusterSetup> {
    const processes = new RedisProcesses("cluster");
    const ports = await freePorts(12);
    const setup = new ClusterSetup(processes, ports.slice(0, 6));
    try {
      await Promise.all(
        setup.nodes.map((port, i) => {
          const dir = processes.dir(port);
          return processes.start(port, [
            "--port",
            String(port),
            "--cluster-port",
            String(ports[6 + i]),
            "--bind",
            "127.0.0.1",
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            join(dir, "nodes.conf"),
            "--cluster-node-timeout",
            "1000",
            "--save",
            "",
            "--appendonly",
            "no",
            "--repl-diskless-sync",
            "yes",
          ]);
        }),
      );
      await run(
        "redis-cli",
        [
          "--cluster",
          "create",
          ...setup.nodes.map((p) => `127.0.0.1:${p}`),
          "--cluster-replicas",
          "1",
          "--cluster-yes",
        ],
        { signal: AbortSignal.timeout(60_000) },
      );
      await setup.waitHealthy(setup.nodes, 60_000);
      return setup;
    } catch (err) {
      await setup.close();
      throw err;
    }
  }

  /** Waits until every node of `nodes` says cluster_state:ok and every master has an online replica. */
  async waitHealthy(nodes: readonly number[], timeoutMs: number): Promise<void> {
    for (const port of nodes) {
      await until(
        async () => String(await this.ask(port, ["CLUSTER", "INFO"])).includes("cluster_state:ok"),
        timeoutMs,
        `cluster_state:ok on 127.0.0.1:${port}`,
      );
    }
    for (const master of await this.masters()) {
      await until(
        async () => /slave0:.*state=online/.test(String(await this.ask(master, ["INFO", "replication"]))),
        timeoutMs,
        `a replica online at 127.0.0.1:${master}`,
      );
    }
  }

  /** The ports of the masters that hold slots, as a running node reports them. */
  async masters(): Promise<number[]> {
    const slots = (await this.ask(this.#anyRunning(), ["CLUSTER", "SLOTS"])) as [number, number, [string, number]][];
    return [...new Set(slots.map((range) => Number(range[2][1])))];
  }

  /** The port of the master that holds `key`'s slot, as a running node reports it. */
  async masterOf(key: string): Promise<number> {
    const via = this.#anyRunning();
    const slot = Number(await this.ask(via, ["CLUSTER", "KEYSLOT", key]));
    const slots = (await this.ask(via, ["CLUSTER", "SLOTS"])) as [number, number, [string, number]][];
    const range = slots.find(([from, to]) => slot >= from && slot <= to);
    if (!range) throw new Error(`no node holds slot ${slot}`);
    return Number(range[2][1]);
  }

  /** Kills the master of `key`'s slot with SIGKILL; returns its port. */
  async killMasterOf(key: string): Promise<number> {
    const master = await this.masterOf(key);
    await this.#processes.kill(master);
    return master;
  }

  /** Waits until a running node says another master than `old` holds `key`'s slot, and the cluster is ok again. */
  async waitFailover(key: string, old: number, timeoutMs = 30_000): Promise<number> {
    let current = old;
    await until(
      async () => {
        current = await this.masterOf(key);
        const info = String(await this.ask(this.#anyRunning(), ["CLUSTER", "INFO"]));
        return current !== old && info.includes("cluster_state:ok");
      },
      timeoutMs,
      `a failover away from 127.0.0.1:${old}`,
    );
    return current;
  }

  /**
   * Starts a killed node again, as a supervisor would: with its nodes.conf
   * it rejoins the cluster, as a replica of the master that took its slots.
   * Waits until the cluster is healthy again.
   */
  async restart(port: number, timeoutMs = 60_000): Promise<void> {
    await this.#processes.restart(port);
    await this.waitHealthy(this.nodes, timeoutMs);
  }

  #anyRunning(): number {
    const port = this.nodes.find((p) => this.#processes.isRunning(p));
    if (port === undefined) throw new Error("no cluster node is running");
    return port;
  }

  /** Runs one command on the node on `port`. */
  ask(port: number, command: string[]): Promise<unknown> {
    return ask(port, command);
  }

  async close(): Promise<void> {
    await this.#processes.close();
  }
}

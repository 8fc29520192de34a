/**
 * Redis with Sentinel of a test's own: a master, two replicas and three
 * Sentinels (`redis-server --sentinel`) that agree (quorum 2) to fail over
 * one second after the master stops answering. With `replicationLagMs`, the
 * replicas replicate through a FaultProxy that delays the stream that much,
 * as a link between machines under load does; killing the master then cuts
 * that link too, so what was on its way dies with the master, as with a
 * machine lost (a process killed on one host would still have its socket
 * buffers delivered by the kernel).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { FaultProxy, freePorts } from "@portable-pubsub/conformance";
import { adminClient, ask, RedisProcesses, until } from "./redis-processes.js";

export const MASTER_NAME = "ppsmaster";

/** Replicas sync without disk; no persistence (a killed master's data is lost with it, as with a lost machine). */
const SERVER_ARGS = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--repl-diskless-sync", "yes"];

export class SentinelSetup {
  readonly #processes: RedisProcesses;
  /** The ports of the data servers, the first one the master at the start. */
  readonly servers: readonly number[];
  readonly sentinels: readonly number[];
  /** The replicas' link to the first master, with `replicationLagMs`. */
  #link: FaultProxy | undefined;

  private constructor(processes: RedisProcesses, servers: number[], sentinels: number[]) {
    this.#processes = processes;
    this.servers = servers;
    this.sentinels = sentinels;
  }

  /** `redis-sentinel://127.0.0.1:S1,…/ppsmaster`. */
  get serverUrl(): string {
    return `redis-sentinel://${this.sentinels.map((p) => `127.0.0.1:${p}`).join(",")}/${MASTER_NAME}`;
  }

  static async start(options: { replicationLagMs?: number } = {}): Promise<SentinelSetup> {
    const processes = new RedisProcesses("sentinel");
    const ports = await freePorts(6);
    const setup = new SentinelSetup(processes, ports.slice(0, 3), ports.slice(3));
    try {
      const [master, ...replicas] = setup.servers as [number, ...number[]];
      await processes.start(master, ["--port", String(master), ...SERVER_ARGS]);
      let upstream = master;
      if (options.replicationLagMs !== undefined) {
        setup.#link = await FaultProxy.start({ upstream: { host: "127.0.0.1", port: master } });
        setup.#link.slow(options.replicationLagMs);
        upstream = setup.#link.port;
      }
      await Promise.all(
        replicas.map((port) =>
          processes.start(port, ["--port", String(port), ...SERVER_ARGS, "--replicaof", "127.0.0.1", String(upstream)]),
        ),
      );
      await Promise.all(setup.sentinels.map((port) => setup.#startSentinel(port, master)));
      await setup.waitSettled(master, 60_000);
      return setup;
    } catch (err) {
      await setup.close();
      throw err;
    }
  }

  async #startSentinel(port: number, master: number): Promise<void> {
    const conf = join(this.#processes.dir(port), "sentinel.conf");
    writeFileSync(
      conf,
      [
        `port ${port}`,
        "bind 127.0.0.1",
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${master} 2`,
        `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
        `sentinel failover-timeout ${MASTER_NAME} 10000`,
        `sentinel parallel-syncs ${MASTER_NAME} 2`,
        "",
      ].join("\n"),
    );
    await this.#processes.start(port, [conf, "--sentinel"]);
  }

  /**
   * Waits until `master` has its replicas online and every Sentinel names
   * it, knows its replicas and the other Sentinels.
   */
  async waitSettled(master: number, timeoutMs = 60_000): Promise<void> {
    const replicas = this.servers.filter((p) => p !== master && this.#processes.isRunning(p)).length;
    await until(
      async () => {
        const info = await this.ask(master, ["INFO", "replication"]);
        return (String(info).match(/state=online/g) ?? []).length === replicas;
      },
      timeoutMs,
      `${replicas} replicas online at 127.0.0.1:${master}`,
    );
    for (const sentinel of this.sentinels) {
      await until(
        async () => {
          const addr = (await this.ask(sentinel, ["SENTINEL", "get-master-addr-by-name", MASTER_NAME])) as string[];
          const known = (await this.ask(sentinel, ["SENTINEL", "replicas", MASTER_NAME])) as unknown[];
          const others = (await this.ask(sentinel, ["SENTINEL", "sentinels", MASTER_NAME])) as unknown[];
          return Number(addr?.[1]) === master && known.length >= replicas && others.length === 2;
        },
        timeoutMs,
        `Sentinel 127.0.0.1:${sentinel} to know master ${master}, its replicas and the other Sentinels`,
      );
    }
  }

  /** The master's port, as the first answering Sentinel names it. */
  async master(): Promise<number> {
    for (const sentinel of this.sentinels) {
      const addr = (await this.ask(sentinel, ["SENTINEL", "get-master-addr-by-name", MASTER_NAME]).catch(
        () => undefined,
      )) as string[] | undefined;
      if (addr) return Number(addr[1]);
    }
    throw new Error("no Sentinel answers");
  }

  /** Kills the master with SIGKILL (and cuts the replicas' lagging link to it, if any); returns its port. */
  async killMaster(): Promise<number> {
    const master = await this.master();
    this.#link?.refuse(true);
    this.#link?.cut();
    await this.#processes.kill(master);
    return master;
  }

  /** Waits until the Sentinels name a master other than `old`; returns it. */
  async waitFailover(old: number, timeoutMs = 30_000): Promise<number> {
    let current = old;
    await until(
      async () => {
        current = await this.master();
        return current !== old;
      },
      timeoutMs,
      `a failover away from 127.0.0.1:${old}`,
    );
    return current;
  }

  /** Runs one command on the server or Sentinel on `port`. */
  ask(port: number, command: string[]): Promise<unknown> {
    return ask(port, command);
  }

  /** Waits until `replicas` replicas of the server on `port` have every write made on it so far (a write, then WAIT). */
  async replicated(port: number, replicas: number): Promise<void> {
    const client = adminClient(port);
    try {
      await client.set("pps:marker", "1");
      const count = await client.wait(replicas, 10_000);
      if (count < replicas) throw new Error(`WAIT ${replicas}: only ${count} replicas of 127.0.0.1:${port} caught up`);
    } finally {
      client.disconnect();
    }
  }

  async close(): Promise<void> {
    await this.#link?.close();
    await this.#processes.close();
  }
}

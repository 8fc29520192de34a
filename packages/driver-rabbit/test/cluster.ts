/**
 * A RabbitMQ cluster of our own for the cluster tests: three nodes as child
 * processes of this test process, on free ports, each with its own node
 * name, distribution port, config file, data and log folders, sharing an
 * Erlang cookie of their own, clustered with `rabbitmqctl join_cluster`.
 * The shared broker (rabbit@localhost on 5672) is never touched: every
 * rabbitmqctl call names its node with `-n`, and the nodes read neither
 * /etc/rabbitmq's config nor its env file. `close` stops the nodes and
 * removes their folders; a process exit kills what is left.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { freePorts } from "@portable-pubsub/conformance";

const run = promisify(execFile);
/** The scripts behind /usr/sbin's wrappers, which would switch to the rabbitmq user and its cookie. */
const BIN = "/usr/lib/rabbitmq/bin";

/** One node of the cluster. */
export interface ClusterNode {
  /** Its Erlang node name, such as pps1a2b3c-1@localhost. */
  readonly name: string;
  /** Its AMQP port. */
  readonly port: number;
  /** `amqp://guest:guest@127.0.0.1:PORT`. */
  readonly url: string;
  readonly distPort: number;
  readonly dir: string;
}

interface Running {
  readonly process: ChildProcess;
  readonly exited: Promise<void>;
}

/** Everything alive, for the exit hook: a test process that dies must not leave brokers behind. */
const alive = new Set<RabbitCluster>();
process.once("exit", () => {
  for (const cluster of alive) cluster.killNow();
});

export class RabbitCluster {
  readonly nodes: readonly ClusterNode[];
  readonly #base: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #running = new Map<string, Running>();

  private constructor(base: string, nodes: ClusterNode[]) {
    this.#base = base;
    this.nodes = nodes;
    this.#env = {
      ...process.env,
      // Erlang and the CLI read the cookie from $HOME/.erlang.cookie.
      HOME: base,
      RABBITMQ_CONF_ENV_FILE: join(base, "rabbitmq-env.conf"),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(base, "enabled_plugins"),
      // An Erlang VM that fails (a CLI call racing close(), which removed the
      // cookie) writes erl_crash.dump into the working directory, the
      // repository's root: one was committed by accident. Write none.
      ERL_CRASH_DUMP_SECONDS: "0",
    };
  }

  /**
   * Starts `size` nodes and clusters them. Rejects (after removing what it
   * made) when they are not up within `timeoutMs`.
   */
  static async start(size = 3, timeoutMs = 120_000): Promise<RabbitCluster> {
    const id = randomBytes(3).toString("hex");
    const base = join(tmpdir(), `pps-cluster-${id}`);
    mkdirSync(base, { recursive: true });
    writeFileSync(join(base, ".erlang.cookie"), randomBytes(16).toString("hex").toUpperCase());
    chmodSync(join(base, ".erlang.cookie"), 0o400);
    writeFileSync(join(base, "rabbitmq-env.conf"), "");
    writeFileSync(join(base, "enabled_plugins"), "[].\n");
    const ports = await freePorts(size * 2);
    const nodes = Array.from({ length: size }, (_, i): ClusterNode => {
      const port = ports[2 * i] as number;
      const dir = join(base, `node${i + 1}`);
      return {
        name: `pps${id}-${i + 1}@localhost`,
        port,
        url: `amqp://guest:guest@127.0.0.1:${port}`,
        distPort: ports[2 * i + 1] as number,
        dir,
      };
    });
    const cluster = new RabbitCluster(base, nodes);
    alive.add(cluster);
    const deadline = AbortSignal.timeout(timeoutMs);
    try {
      for (const node of nodes) cluster.#configure(node);
      await Promise.all(nodes.map((node) => cluster.startNode(node, deadline)));
      const [first, ...others] = nodes as [ClusterNode, ...ClusterNode[]];
      // One at a time: concurrent joins race for the cluster's schema.
      for (const node of others) {
        await cluster.ctl(node, ["stop_app"], deadline);
        await cluster.ctl(node, ["join_cluster", first.name], deadline);
        await cluster.ctl(node, ["start_app"], deadline);
      }
      await cluster.ctl(first, ["await_startup"], deadline);
      return cluster;
    } catch (err) {
      await cluster.close();
      throw err;
    }
  }

  #configure(node: ClusterNode): void {
    mkdirSync(join(node.dir, "log"), { recursive: true });
    writeFileSync(
      join(node.dir, "rabbitmq.conf"),
      [
        `listeners.tcp.1 = 127.0.0.1:${node.port}`,
        "loopback_users = none",
        "disk_free_limit.absolute = 10MB",
        "log.console = false",
        "log.file.level = warning",
        "",
      ].join("\n"),
    );
  }

  #nodeEnv(node: ClusterNode): NodeJS.ProcessEnv {
    return {
      ...this.#env,
      RABBITMQ_NODENAME: node.name,
      RABBITMQ_NODE_IP_ADDRESS: "127.0.0.1",
      RABBITMQ_NODE_PORT: String(node.port),
      RABBITMQ_DIST_PORT: String(node.distPort),
      RABBITMQ_CONFIG_FILE: join(node.dir, "rabbitmq.conf"),
      RABBITMQ_MNESIA_BASE: join(node.dir, "data"),
      RABBITMQ_LOG_BASE: join(node.dir, "log"),
      RABBITMQ_PID_FILE: join(node.dir, "pid"),
    };
  }

  /** Runs `rabbitmqctl -n NODE ...args`, bounded by `signal`. */
  async ctl(node: ClusterNode, args: string[], signal: AbortSignal = AbortSignal.timeout(60_000)): Promise<string> {
    const { stdout } = await run(`${BIN}/rabbitmqctl`, ["-n", node.name, ...args], {
      env: this.#nodeEnv(node),
      signal,
    });
    return stdout;
  }

  /** Runs another CLI (rabbitmq-queues, rabbitmq-upgrade…) against `node`. */
  async cli(tool: string, node: ClusterNode, args: string[], signal = AbortSignal.timeout(60_000)): Promise<string> {
    const { stdout } = await run(`${BIN}/${tool}`, ["-n", node.name, ...args], { env: this.#nodeEnv(node), signal });
    return stdout;
  }

  /** Starts `node` in the foreground as a child process and waits until it has booted. */
  async startNode(node: ClusterNode, signal: AbortSignal = AbortSignal.timeout(90_000)): Promise<void> {
    if (this.#running.has(node.name)) throw new Error(`${node.name} is running already`);
    // Its console output goes to a file in its folder, read when it fails to boot.
    const out = openSync(join(node.dir, "console.log"), "a");
    const child = spawn(`${BIN}/rabbitmq-server`, [], { env: this.#nodeEnv(node), stdio: ["ignore", out, out] });
    closeSync(out);
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.once("error", () => {});
    this.#running.set(node.name, { process: child, exited });
    void exited.then(() => {
      if (this.#running.get(node.name)?.process === child) this.#running.delete(node.name);
    });
    // await_startup fails at once while the node has not registered with epmd yet: ask again until booted.
    for (;;) {
      try {
        await this.ctl(node, ["await_startup", "--timeout", "60"], signal);
        return;
      } catch (err) {
        if (signal.aborted || !this.#running.has(node.name)) throw bootFailure(node, err);
        await sleep(250);
      }
    }
  }

  /** Whether `node`'s process is running. */
  isRunning(node: ClusterNode): boolean {
    return this.#running.has(node.name);
  }

  /** Stops `node` gracefully (SIGTERM: RabbitMQ's own shutdown) and waits for its process to exit. */
  async stopNode(node: ClusterNode, timeoutMs = 60_000): Promise<void> {
    const running = this.#running.get(node.name);
    if (!running) return;
    running.process.kill("SIGTERM");
    const timer = setTimeout(() => this.killNode(node), timeoutMs);
    await running.exited;
    clearTimeout(timer);
  }

  /** `kill -9` of the node's Erlang VM (its beam process), as a crash or an OOM kill would; waits for the exit. */
  async killNode(node: ClusterNode): Promise<void> {
    const running = this.#running.get(node.name);
    if (!running) return;
    const beam = beamPid(node);
    if (beam !== undefined) process.kill(beam, "SIGKILL");
    else running.process.kill("SIGKILL");
    await running.exited;
  }

  /** Nodes that the cluster reports as running, asked of `via`. */
  async runningNodes(via: ClusterNode): Promise<string[]> {
    const out = await this.ctl(via, ["cluster_status", "--formatter", "json"]);
    return (JSON.parse(out) as { running_nodes: string[] }).running_nodes.sort();
  }

  /** Stops every node (killing what does not stop in time) and removes the cluster's folders. */
  async close(): Promise<void> {
    await Promise.all(this.nodes.map((node) => this.stopNode(node, 20_000).catch(() => this.killNode(node))));
    alive.delete(this);
    rmSync(this.#base, { recursive: true, force: true });
  }

  /** Synchronous last resort, from the exit hook. */
  killNow(): void {
    for (const node of this.nodes) {
      const running = this.#running.get(node.name);
      if (!running) continue;
      const beam = beamPid(node);
      try {
        if (beam !== undefined) process.kill(beam, "SIGKILL");
      } catch {}
      running.process.kill("SIGKILL");
    }
    rmSync(this.#base, { recursive: true, force: true });
  }
}

/** Why `node` did not boot: the CLI's error and the end of the node's console output. */
function bootFailure(node: ClusterNode, err: unknown): Error {
  let console = "";
  try {
    console = readFileSync(join(node.dir, "console.log"), "utf8").slice(-2000);
  } catch {}
  return new Error(`RabbitMQ node ${node.name} did not boot: ${String(err).slice(0, 500)}\n${console}`, { cause: err });
}

/** The node's Erlang VM, from the pid file it writes at boot. */
function beamPid(node: ClusterNode): number | undefined {
  try {
    const pid = Number(readFileSync(join(node.dir, "pid"), "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

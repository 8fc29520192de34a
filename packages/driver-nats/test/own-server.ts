import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, rmSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "@portable-pubsub/conformance";

/** The nats-server the own-server tests start; never the shared one on 4222. */
export const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN ?? "/usr/sbin/nats-server";

/**
 * A nats-server of a test's own, on a free port, with JetStream in a
 * temporary store directory: for restarts and for settings (users,
 * permissions, limits, a cluster) the shared server must not get.
 */
export interface OwnServer {
  readonly port: number;
  readonly url: string;
  readonly address: { host: string; port: number };
  /** Kills the server (SIGKILL: a crash, not a clean shutdown); resolves once it exited. */
  kill(): Promise<void>;
  /** Stops the server with SIGTERM (a clean shutdown, as a rolling restart does); resolves once it exited. */
  terminate(): Promise<void>;
  /** Starts it again on the same port and store; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Whether the process runs. */
  readonly running: boolean;
  /** The end of the server's log, for a failure's message. */
  log(): string;
  /** Kills it and removes its store. */
  stop(): Promise<void>;
}

/** What `startOwnServer` takes besides the configuration. */
export interface OwnServerOptions {
  /** The client port; default a free one. A cluster's nodes need theirs before any starts, for the routes. */
  port?: number;
}

/**
 * Servers still running and store folders not yet removed: when the test
 * process exits however it ends, the servers are killed and the folders
 * removed, so that no nats-server or store outlives its test.
 */
const alive = new Set<ChildProcess>();
const folders = new Set<string>();
process.once("exit", () => {
  for (const child of alive) child.kill("SIGKILL");
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

async function listening(port: number, ms: number, log: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: "127.0.0.1", port });
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nats-server on port ${port} did not listen within ${ms} ms: ${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts `nats-server -c <conf>` with JetStream in a temporary store
 * directory, on a free port (or `options.port`). `config` is the body of a
 * configuration file (users, permissions, max_payload, server_name and
 * cluster); the listen address and store directory are added here. The log
 * goes to server.log beside the store.
 */
export async function startOwnServer(config = "", options: OwnServerOptions = {}): Promise<OwnServer> {
  const port = options.port ?? (await freePort());
  const dir = await mkdtemp(join(tmpdir(), "pps-nats-"));
  folders.add(dir);
  const file = join(dir, "server.conf");
  const logFile = join(dir, "server.log");
  await writeFile(file, `listen: "127.0.0.1:${port}"\njetstream { store_dir: "${join(dir, "js")}" }\n${config}\n`);
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const log = () => {
    try {
      return readFileSync(logFile, "utf8").slice(-1500);
    } catch {
      return "(no log)";
    }
  };
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  const start = async () => {
    const out = openSync(logFile, "a");
    const proc = spawn(NATS_SERVER_BIN, ["-c", file], { stdio: ["ignore", out, out] });
    closeSync(out);
    child = proc;
    alive.add(proc);
    exited = new Promise<void>((resolve) =>
      proc.once("exit", () => {
        alive.delete(proc);
        resolve();
      }),
    );
    proc.once("error", () => {});
    await listening(port, 10_000, log);
  };
  const signal = async (name: NodeJS.Signals) => {
    if (running()) child?.kill(name);
    await exited;
  };
  const kill = () => signal("SIGKILL");
  const remove = async () => {
    await kill();
    await rm(dir, { recursive: true, force: true });
    folders.delete(dir);
  };
  try {
    await start();
  } catch (err) {
    await remove();
    throw err;
  }
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    address: { host: "127.0.0.1", port },
    kill,
    terminate: () => signal("SIGTERM"),
    start,
    get running() {
      return running();
    },
    log,
    stop: remove,
  };
}

import { type ChildProcess, spawn } from "node:child_process";
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
 * permissions, limits) the shared server must not get.
 */
export interface OwnServer {
  readonly port: number;
  readonly url: string;
  readonly address: { host: string; port: number };
  /** Kills the server (SIGKILL: a crash, not a clean shutdown); resolves once it exited. */
  kill(): Promise<void>;
  /** Starts it again on the same port and store; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Kills it and removes its store. */
  stop(): Promise<void>;
}

async function listening(port: number, ms: number): Promise<void> {
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
    if (Date.now() > deadline) throw new Error(`nats-server on port ${port} did not listen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts `nats-server -js -sd <tmpdir>` on a free port. `config` is the
 * body of a configuration file (users, permissions, max_payload); the
 * listen address and store directory are added here.
 */
export async function startOwnServer(config = ""): Promise<OwnServer> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), "pps-nats-"));
  const file = join(dir, "server.conf");
  await writeFile(file, `listen: "127.0.0.1:${port}"\njetstream { store_dir: "${join(dir, "js")}" }\n${config}\n`);
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const start = async () => {
    const proc = spawn(NATS_SERVER_BIN, ["-c", file], { stdio: "ignore" });
    child = proc;
    exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    proc.once("error", () => {});
    await listening(port, 10_000);
  };
  const kill = async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  };
  try {
    await start();
  } catch (err) {
    await kill();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    address: { host: "127.0.0.1", port },
    kill,
    start,
    stop: async () => {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * redis-server child processes of a test's own, each in a folder of a base
 * folder, for the Sentinel and Cluster harnesses. `close` kills them and
 * removes the base folder; a process exit kills what is left, so a test
 * process that dies leaves no servers behind. The shared Redis (6379) is
 * never touched: every server listens on a free port.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";

interface Running {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
}

const alive = new Set<RedisProcesses>();
process.once("exit", () => {
  for (const group of alive) group.killNow();
});

export class RedisProcesses {
  readonly base: string;
  readonly #running = new Map<number, Running>();
  /** The arguments each server was started with, for a restart. */
  readonly #args = new Map<number, string[]>();

  constructor(kind: string) {
    this.base = join(tmpdir(), `pps-redis-${kind}-${randomBytes(3).toString("hex")}`);
    mkdirSync(this.base, { recursive: true });
    alive.add(this);
  }

  /** The folder of the server on `port`, made if missing. */
  dir(port: number): string {
    const dir = join(this.base, String(port));
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** Starts `redis-server ...args` for the server on `port` and waits until it answers PING. */
  async start(port: number, args: string[], timeoutMs = 20_000): Promise<void> {
    const dir = this.dir(port);
    this.#args.set(port, args);
    const out = openSync(join(dir, "server.log"), "a");
    const child = spawn("redis-server", args, { cwd: dir, stdio: ["ignore", out, out] });
    closeSync(out);
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.once("error", () => {});
    this.#running.set(port, { child, exited });
    void exited.then(() => {
      if (this.#running.get(port)?.child === child) this.#running.delete(port);
    });
    const deadline = Date.now() + timeoutMs;
    const probe = new Redis({ port, host: "127.0.0.1", lazyConnect: true, retryStrategy: () => 100 });
    probe.on("error", () => {});
    try {
      while ((await probe.ping().catch(() => "")) !== "PONG") {
        if (!this.#running.has(port) || Date.now() > deadline) {
          throw new Error(`redis-server on port ${port} did not start: ${this.log(port)}`);
        }
        await sleep(50);
      }
    } finally {
      probe.disconnect();
    }
  }

  /** The end of the server's log, for a failure's message. */
  log(port: number): string {
    try {
      return readFileSync(join(this.dir(port), "server.log"), "utf8").slice(-1500);
    } catch {
      return "(no log)";
    }
  }

  /** Starts the server on `port` again, with the arguments (and folder) it had. */
  async restart(port: number): Promise<void> {
    const args = this.#args.get(port);
    if (!args) throw new Error(`no server was started on port ${port}`);
    await this.start(port, args);
  }

  isRunning(port: number): boolean {
    return this.#running.has(port);
  }

  /** `kill -9` of the server on `port`, as a crash or an OOM kill would; waits for its exit. */
  async kill(port: number): Promise<void> {
    const running = this.#running.get(port);
    if (!running) return;
    running.child.kill("SIGKILL");
    await running.exited;
  }

  /** Kills every server and removes the base folder. */
  async close(): Promise<void> {
    await Promise.all([...this.#running.keys()].map((port) => this.kill(port)));
    alive.delete(this);
    rmSync(this.base, { recursive: true, force: true });
  }

  /** Synchronous last resort, from the exit hook. */
  killNow(): void {
    for (const { child } of this.#running.values()) child.kill("SIGKILL");
    rmSync(this.base, { recursive: true, force: true });
  }
}

/** A plain client of one server, for setting up and looking: it never retries for long. */
export function adminClient(port: number): Redis {
  const client = new Redis({ port, host: "127.0.0.1", maxRetriesPerRequest: 1, retryStrategy: () => 200 });
  client.on("error", () => {});
  return client;
}

/** Runs one command on the server (or Sentinel) on `port`, over a connection of its own. */
export async function ask(port: number, command: string[]): Promise<unknown> {
  const client = adminClient(port);
  try {
    const [name, ...args] = command as [string, ...string[]];
    return await client.call(name, ...args);
  } finally {
    client.disconnect();
  }
}

/** Polls `check` until it returns true; rejects naming `what` after `timeoutMs`. */
export async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await Promise.resolve(check()).catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

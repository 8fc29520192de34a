import { spawn } from "node:child_process";
import { freePort } from "@portable-pubsub/conformance";
import { Redis } from "ioredis";

/** A redis-server of a test's own, on a free port, for settings the shared one must not get (maxmemory). */
export interface OwnServer {
  readonly url: string;
  /** A plain client for setting it up and looking at it. */
  readonly admin: Redis;
  stop(): Promise<void>;
}

/** Starts `redis-server` (from PATH) without persistence; rejects if it does not answer within 10 s. */
export async function startOwnServer(): Promise<OwnServer> {
  const port = await freePort();
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    {
      stdio: "ignore",
    },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.once("error", () => {});
  const url = `redis://127.0.0.1:${port}`;
  const admin = new Redis(url, { lazyConnect: true, retryStrategy: () => 100, maxRetriesPerRequest: null });
  admin.on("error", () => {});
  const stop = async () => {
    admin.disconnect();
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  };
  try {
    await admin.connect().catch(() => {});
    const deadline = Date.now() + 10_000;
    while ((await admin.ping().catch(() => "")) !== "PONG") {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer within 10 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, admin, stop };
}

/**
 * Starts the Google Pub/Sub emulator for a test file, on a free port, and
 * stops it afterwards with its whole process group, so that no JVM outlives
 * the tests. With CI=true a failure to start fails the file; otherwise its
 * tests are skipped.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, realpathSync } from "node:fs";
import net from "node:net";
import { dirname, join } from "node:path";
import { afterAll } from "vitest";

export interface Emulator {
  readonly host: string;
  readonly port: number;
  /** `host:port`, as PUBSUB_EMULATOR_HOST and `apiEndpoint` take it. */
  readonly address: string;
  stop(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 45_000;

/** The emulator's own start script if the Cloud SDK is found, else `gcloud beta emulators pubsub start`. */
function command(host: string, port: number): [string, string[]] {
  const candidates = [process.env.PUBSUB_EMULATOR_BIN];
  try {
    const sdkRoot = dirname(dirname(realpathSync(whichGcloud())));
    candidates.push(join(sdkRoot, "platform", "pubsub-emulator", "bin", "cloud-pubsub-emulator"));
  } catch {
    // No gcloud on PATH: only PUBSUB_EMULATOR_BIN can help.
  }
  const script = candidates.find((c): c is string => c !== undefined && existsSync(c));
  if (script) return [script, [`--host=${host}`, `--port=${port}`]];
  return ["gcloud", ["beta", "emulators", "pubsub", "start", `--host-port=${host}:${port}`]];
}

function whichGcloud(): string {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    const candidate = join(dir, "gcloud");
    if (existsSync(candidate)) return candidate;
  }
  throw new Error("gcloud not found");
}

async function freePort(host: string): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves once the emulator answers its HTTP health page ("Ok"). */
async function waitUntilUp(address: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the Pub/Sub emulator exited during start-up (${child.exitCode ?? child.signalCode}):\n${log()}`);
    }
    try {
      const response = await fetch(`http://${address}/`, { signal: AbortSignal.timeout(1000) });
      if (response.ok && (await response.text()).trim() === "Ok") return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the Pub/Sub emulator did not answer on ${address} within ${STARTUP_TIMEOUT_MS} ms:\n${log()}`);
}

/** Starts an emulator; rejects if it does not come up. */
export async function startEmulator(): Promise<Emulator> {
  const host = "127.0.0.1";
  const port = await freePort(host);
  const address = `${host}:${port}`;
  const [file, args] = command(host, port);
  // A process group of its own, so that stop() reaches the JVM behind the wrapper scripts.
  const child = spawn(file, args, { detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  // Should the test process die without stop(), the JVM still goes with it.
  const onExit = () => child.pid !== undefined && killGroup(child.pid, "SIGKILL");
  process.once("exit", onExit);
  child.once("error", (err) => {
    output += `\n${String(err)}`;
  });
  const stop = async () => {
    process.removeListener("exit", onExit);
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    killGroup(child.pid, "SIGTERM");
    const killed = await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(r, 5000, false))]);
    if (!killed) killGroup(child.pid, "SIGKILL");
    await exited;
    // The wrapper may exit before the JVM: make sure the group is gone.
    killGroup(child.pid, "SIGKILL");
  };
  try {
    await waitUntilUp(address, child, () => output);
  } catch (err) {
    await stop();
    throw err;
  }
  return { host, port, address, stop };
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * Starts an emulator for the calling test file and stops it after the file.
 * Returns undefined (the file should skip) when it cannot start, unless
 * CI=true, where that failure is thrown and fails the file.
 */
export async function emulatorForTests(): Promise<Emulator | undefined> {
  let emulator: Emulator;
  try {
    emulator = await startEmulator();
  } catch (err) {
    if (process.env.CI === "true") throw err;
    console.warn(`skipping: ${String(err)}`);
    return undefined;
  }
  afterAll(() => emulator.stop());
  return emulator;
}

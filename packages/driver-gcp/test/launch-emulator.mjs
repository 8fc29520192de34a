// Starts the Google Pub/Sub emulator on a free port and stops it with its whole process group,
// so that no JVM outlives the caller. Plain JavaScript, so that the benchmarks (run by node
// without a TypeScript step) share it with the tests.
import { spawn } from "node:child_process";
import { existsSync, realpathSync } from "node:fs";
import net from "node:net";
import { dirname, join } from "node:path";

const STARTUP_TIMEOUT_MS = 45_000;

/** The emulator's own start script if the Cloud SDK is found, else `gcloud beta emulators pubsub start`. */
function command(host, port) {
  const candidates = [process.env.PUBSUB_EMULATOR_BIN];
  const gcloud = (process.env.PATH ?? "")
    .split(":")
    .map((dir) => join(dir, "gcloud"))
    .find((candidate) => existsSync(candidate));
  if (gcloud) {
    const sdkRoot = dirname(dirname(realpathSync(gcloud)));
    candidates.push(join(sdkRoot, "platform", "pubsub-emulator", "bin", "cloud-pubsub-emulator"));
  }
  const script = candidates.find((c) => c !== undefined && existsSync(c));
  if (script) return [script, [`--host=${host}`, `--port=${port}`]];
  return ["gcloud", ["beta", "emulators", "pubsub", "start", `--host-port=${host}:${port}`]];
}

async function freePort(host) {
  const server = net.createServer();
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address();
  await new Promise((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves once the emulator answers its HTTP health page ("Ok"). */
async function waitUntilUp(address, child, log) {
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

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/** Starts an emulator; rejects if it does not come up. */
export async function startEmulator() {
  const host = "127.0.0.1";
  const port = await freePort(host);
  const address = `${host}:${port}`;
  const [file, args] = command(host, port);
  // A process group of its own, so that stop() reaches the JVM behind the wrapper scripts.
  const child = spawn(file, args, { detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  child.once("error", (err) => {
    output += `\n${String(err)}`;
  });
  const exited = new Promise((resolve) => child.once("exit", () => resolve()));
  // Should the caller die without stop(), the JVM still goes with it.
  const onExit = () => child.pid !== undefined && killGroup(child.pid, "SIGKILL");
  process.once("exit", onExit);
  const stop = async () => {
    process.removeListener("exit", onExit);
    if (child.pid === undefined) return;
    if (child.exitCode === null && child.signalCode === null) {
      killGroup(child.pid, "SIGTERM");
      const gone = await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(r, 5000, false))]);
      if (!gone) killGroup(child.pid, "SIGKILL");
      await exited;
    }
    // The wrapper may exit before the JVM: make sure the whole group is gone.
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

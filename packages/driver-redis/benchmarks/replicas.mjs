// What `replicas=1` costs a redisstream:// topic: sends with and without a WAIT 1 after each batch, on a
// master and one replica of this benchmark's own (redis-server child processes on free ports, in a
// folder removed at the end), so that the shared Redis, which has no replica, is not needed.
// Prints msgs/s of windowed sends (2000 in flight), the median latency of one awaited send at a time,
// and the ratios with / without. Run after a build: node packages/driver-redis/benchmarks/replicas.mjs [count]
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { commandClientOptions, openRedisTopic } from "@portable-pubsub/driver-redis";
import { Redis } from "ioredis";
import { fmt, indexedBody, median, rate, sendWindowed } from "../../../benchmarks/lib.mjs";

const N = Number(process.argv[2]) || 50_000;
const RUNS = 5;
const BODY_BYTES = 100;
const IN_FLIGHT = 2000;
const LATENCY_SENDS = 500;

const base = mkdtempSync(join(tmpdir(), "pps-bench-replicas-"));
const children = [];
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL");
  rmSync(base, { recursive: true, force: true });
});

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startServer(port, extra = []) {
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", base];
  const child = spawn("redis-server", [...args, ...extra], { stdio: "ignore" });
  children.push(child);
  const probe = new Redis({ port, host: "127.0.0.1", lazyConnect: true, retryStrategy: () => 50 });
  probe.on("error", () => {});
  for (let i = 0; (await probe.ping().catch(() => "")) !== "PONG"; i++) {
    if (i > 200) throw new Error(`redis-server on ${port} did not start`);
    await sleep(50);
  }
  return probe;
}

const masterPort = await freePort();
const replicaPort = await freePort();
const master = await startServer(masterPort);
const replica = await startServer(replicaPort, ["--replicaof", "127.0.0.1", String(masterPort)]);
while (!/master_link_status:up/.test(await replica.info("replication"))) await sleep(50);

/** Sends `n` messages (windowed), then LATENCY_SENDS one at a time; returns ms of each part. */
async function run(n, replicas) {
  const stream = `bench-replicas-${replicas}`;
  const client = new Redis(`redis://127.0.0.1:${masterPort}`, commandClientOptions(5000));
  client.on("error", () => {});
  await client.ping();
  const topic = openRedisTopic(client, stream, replicas ? { replicas } : {});
  const start = performance.now();
  await sendWindowed(n, IN_FLIGHT, (i) => topic.send({ body: indexedBody(i, BODY_BYTES) }));
  const windowedMs = performance.now() - start;
  const latencies = [];
  for (let i = 0; i < LATENCY_SENDS; i++) {
    const t = performance.now();
    await topic.send({ body: indexedBody(i, BODY_BYTES) });
    latencies.push(performance.now() - t);
  }
  await topic.shutdown();
  await client.del(stream);
  client.disconnect();
  return { windowedMs, latencyMs: median(latencies) };
}

console.log(
  `redisstream topic with and without replicas=1 (WAIT 1 per batch), master + 1 replica on localhost, ${BODY_BYTES}-byte bodies, ${RUNS} runs each, median`,
);
await run(10_000, 0);
await run(10_000, 1);
const without = [];
const withWait = [];
for (let r = 0; r < RUNS; r++) {
  without.push(await run(N, 0));
  withWait.push(await run(N, 1));
}
const w0 = median(without.map((r) => r.windowedMs));
const w1 = median(withWait.map((r) => r.windowedMs));
const l0 = median(without.map((r) => r.latencyMs));
const l1 = median(withWait.map((r) => r.latencyMs));
console.log(
  `${fmt(N)} msgs, ${IN_FLIGHT} in flight: without ${fmt(rate(N, w0))} msgs/s, replicas=1 ${fmt(rate(N, w1))} msgs/s, ratio with/without ${(w0 / w1).toFixed(2)}`,
);
console.log(
  `one send at a time: without ${l0.toFixed(3)} ms, replicas=1 ${l1.toFixed(3)} ms per send, ratio with/without ${(l1 / l0).toFixed(2)}`,
);
master.disconnect();
replica.disconnect();
process.exit(0);

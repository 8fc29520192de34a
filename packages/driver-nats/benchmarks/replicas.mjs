// What `replicas` costs on a three-node JetStream cluster: send throughput to a stream of 1 replica and
// of 3, with 1 send awaiting its PubAck at a time (the latency of one send) and with WINDOW at once,
// for ours (a portable Topic over the driver) and the raw JetStream client (js.publish with a
// Nats-Msg-Id) in the same run. Prints the median of RUNS, the ratio R3/R1 and the ratio ours/raw.
// Each run makes a new stream, whose leader the cluster places, and a new connection to a random
// server: a send to a leader on another server crosses a route, so runs differ; hence medians.
// Run after a build: node packages/driver-nats/benchmarks/replicas.mjs [count]
// The cluster: NATS_CLUSTER_URL (its servers, comma-separated), else three nats-servers this script
// starts on free ports (NATS_SERVER_BIN, default /usr/sbin/nats-server) and removes when it ends.
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { freePorts } from "@portable-pubsub/conformance";
import { connectionOptions, openNatsTopic, parseServerUrls } from "@portable-pubsub/driver-nats";
import { fmt, indexedBody, median, rate, sendWindowed } from "../../../benchmarks/lib.mjs";

const COUNT = Number(process.argv[2] ?? 20_000);
const RUNS = Number(process.env.RUNS ?? 3);
const BODY_BYTES = 100;
const WINDOW = 1000;
const BIN = process.env.NATS_SERVER_BIN ?? "/usr/sbin/nats-server";

/** Three nats-servers in one cluster, each with its own store folder; `stop` kills them and removes the folders. */
async function startCluster() {
  const [c1, c2, c3, r1, r2, r3] = await freePorts(6);
  const routes = [r1, r2, r3].map((p) => `nats://127.0.0.1:${p}`).join(",");
  const dir = mkdtempSync(join(tmpdir(), "pps-nats-bench-"));
  const children = [c1, c2, c3].map((port, i) =>
    spawn(
      BIN,
      ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", join(dir, `n${i + 1}`), "-n", `n${i + 1}`].concat([
        "--cluster_name",
        "pps-bench",
        "--cluster",
        `nats://127.0.0.1:${[r1, r2, r3][i]}`,
        "--routes",
        routes,
      ]),
      { stdio: "ignore" },
    ),
  );
  const stop = () => {
    for (const child of children) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", stop);
  return { url: [c1, c2, c3].map((p) => `nats://127.0.0.1:${p}`).join(","), stop };
}

if (!process.env.NATS_CLUSTER_URL && !existsSync(BIN)) {
  console.log(`skipped: no NATS_CLUSTER_URL and no nats-server at ${BIN} to start a cluster with`);
  process.exit(0);
}
const own = process.env.NATS_CLUSTER_URL ? undefined : await startCluster();
const options = connectionOptions(parseServerUrls(process.env.NATS_CLUSTER_URL ?? own.url));
// The servers of a cluster just started may not listen yet: keep trying.
const adminNc = await connect({ ...options, waitOnFirstConnect: true, timeout: 20_000 });
const jsm = await jetstreamManager(adminNc, { timeout: 5000, checkAPI: false });

/** A new stream of `replicas`, once the cluster placed it and it has a leader (a cluster just started elects its own first). */
async function freshStream(replicas) {
  const stream = `bench_r${replicas}_${randomUUID().slice(0, 8)}`;
  const deadline = Date.now() + 60_000;
  for (let added = false; ; ) {
    try {
      if (!added) await jsm.streams.add({ name: stream, subjects: [stream], num_replicas: replicas });
      added = true;
      // Placed is not yet led: sends before the stream's leader is elected would wait out a timeout.
      if ((await jsm.streams.info(stream)).cluster?.leader)
        return { stream, cleanup: () => jsm.streams.delete(stream) };
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Ours: a portable Topic over the driver, `window` sends awaiting their PubAck at once. */
async function ours(n, replicas, window) {
  const { stream, cleanup } = await freshStream(replicas);
  const nc = await connect(options);
  const topic = openNatsTopic(nc, stream);
  await topic.ready();
  const start = performance.now();
  await sendWindowed(n, window, (i) => topic.send({ body: indexedBody(i, BODY_BYTES) }));
  const ms = performance.now() - start;
  await topic.shutdown();
  await nc.close();
  await cleanup();
  return ms;
}

/** Raw: js.publish with a Nats-Msg-Id, `window` awaiting their PubAck at once. */
async function raw(n, replicas, window) {
  const { stream, cleanup } = await freshStream(replicas);
  const nc = await connect(options);
  const js = jetstream(nc);
  const prefix = `${randomUUID().slice(0, 12)}-`;
  const start = performance.now();
  await sendWindowed(n, window, (i) => js.publish(stream, indexedBody(i, BODY_BYTES), { msgID: prefix + i }));
  const ms = performance.now() - start;
  await nc.close();
  await cleanup();
  return ms;
}

console.log(
  `nats send throughput by replicas on a three-node cluster, ${BODY_BYTES}-byte bodies, ours and raw, ${RUNS} runs each, median`,
);
try {
  await ours(2000, 3, WINDOW);
  for (const window of [1, WINDOW]) {
    const n = window === 1 ? Math.min(COUNT, 5000) : COUNT;
    const results = {};
    for (const replicas of [1, 3]) {
      const oursRuns = [];
      const rawRuns = [];
      for (let r = 0; r < RUNS; r++) {
        // Alternate who goes first, so that neither always runs on a warmer server.
        if (r % 2 === 0) {
          oursRuns.push(await ours(n, replicas, window));
          rawRuns.push(await raw(n, replicas, window));
        } else {
          rawRuns.push(await raw(n, replicas, window));
          oursRuns.push(await ours(n, replicas, window));
        }
      }
      results[replicas] = { ours: median(oursRuns), raw: median(rawRuns) };
      const { ours: o, raw: w } = results[replicas];
      const each = (ms) => (window === 1 ? ` (${((ms * 1000) / n).toFixed(0)} µs a send)` : "");
      console.log(
        `R${replicas}, ${fmt(n)} sends, ${window} in flight: ours ${fmt(rate(n, o))} msgs/s${each(o)}, raw ${fmt(rate(n, w))} msgs/s${each(w)}, ratio ours/raw ${(w / o).toFixed(2)}`,
      );
    }
    const cost = (who) => (results[1][who] / results[3][who]).toFixed(2);
    console.log(`${window} in flight: R3/R1 throughput, ours ${cost("ours")}, raw ${cost("raw")}`);
  }
} finally {
  await adminNc.close();
  own?.stop();
}

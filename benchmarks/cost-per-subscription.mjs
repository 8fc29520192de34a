// Cost per subscription: what 1,000 subscriptions and 1,000 topics cost one process, per driver
// (issue 27): the TCP connections the process holds to the broker, its RSS growth, and the time to
// open them and to shut them down. Each driver runs in a child process of its own, so that one
// driver's memory is not another's. Goal: 1,000 subscriptions open in under 2 s on every driver.
//
// Connections are counted from the kernel's table (/proc/net/tcp*, sockets of the process that are
// ESTABLISHED to the broker's port): what the server sees of this process. For redisstream:// the
// server's own CLIENT LIST (filtered by the client name the benchmark gives) is printed beside it.
// Idle CPU: the process's CPU (user + system) over 5 s while every subscription waits in a receive
// and nothing is sent. RSS growth: after a GC, once all are open, over a baseline taken after the driver was loaded and
// one topic and subscription were opened and shut down. Each subscription and topic has a resource
// of its own (stream, queue, table row, JetStream stream, Pub/Sub subscription), declared by the
// open where the driver can (`declare=true`), so "open" includes declaring; the resources are
// removed afterwards.
//
// Run after a build: node --expose-gc benchmarks/cost-per-subscription.mjs [--count=N] [words...]
//   --count=N  subscriptions and topics per driver, default 1000
//   words      drivers whose package name contains a word (memory, rabbit, redis, nats, postgres or
//              pg, gcp); none, or "subscription", for all
// Servers: RABBIT_SERVER_URL, REDIS_SERVER_URL, NATS_SERVER_URL, PG_TEST_URL, or the shared local
// ones; the Pub/Sub emulator is started here unless PUBSUB_EMULATOR_HOST is set.
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { withTimeout } from "./lib.mjs";

const GOAL_OPEN_S = 2;
/** How long the process's CPU is measured while every subscription waits in a receive with nothing to read. */
const IDLE_WINDOW_MS = 5000;
const GCP_PROJECT = "bench";
const REDIS = process.env.REDIS_SERVER_URL ?? "redis://127.0.0.1:6379";
const PG = process.env.PG_TEST_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const run = `cps${randomUUID().slice(0, 6)}`;

/**
 * Per driver: the broker's port, the options of every open, the URLs of topic and subscription
 * `i`, and how the resources are removed (given one open topic, whose native client can do it).
 */
const DRIVERS = [
  {
    name: "mem",
    package: "driver-memory",
    options: () => ({}),
    topic: (i) => `mem://${run}-${i}`,
    subscription: (i) => `mem://${run}-${i}?subscription=s`,
  },
  {
    name: "rabbit",
    package: "driver-rabbit",
    port: 5672,
    options: () => ({ serverUrl: process.env.RABBIT_SERVER_URL ?? "amqp://guest:guest@127.0.0.1:5672" }),
    topic: (i) => `rabbit://${run}-${i}?declare=true`,
    subscription: (i) => `rabbit://${run}-${i}-q?declare=true&exchange=${run}-${i}`,
    async remove(topic, n) {
      for (let i = 0; i < n; i++) {
        await topic.as().deleteQueue(`${run}-${i}-q`);
        await topic.as().deleteExchange(`${run}-${i}`);
      }
    },
  },
  {
    name: "redis",
    package: "driver-redis",
    port: Number(new URL(REDIS).port || 6379),
    // One client name for the run, so that the server's CLIENT LIST can count this process's connections.
    options: () => ({ serverUrl: REDIS, redisOptions: { connectionName: run } }),
    topic: (i) => `redisstream://${run}-${i}`,
    // Ten consumer groups, a hundred streams each: groups are what readers are shared by.
    subscription: (i) => `redisstream://${run}-${i}?group=g${i % 10}`,
    async serverConnections(topic) {
      const list = String(await topic.as().client("LIST"));
      return list.split("\n").filter((line) => line.includes(` name=${run} `)).length;
    },
    async remove(topic, n) {
      for (let i = 0; i < n; i += 100) {
        await topic.as().del(...Array.from({ length: Math.min(100, n - i) }, (_, k) => `${run}-${i + k}`));
      }
    },
  },
  {
    name: "nats",
    package: "driver-nats",
    port: Number(new URL(process.env.NATS_SERVER_URL ?? "nats://127.0.0.1:4222").port || 4222),
    options: () => ({ serverUrl: process.env.NATS_SERVER_URL ?? "nats://127.0.0.1:4222" }),
    topic: (i) => `nats://${run}_${i}?declare=true`,
    subscription: (i) => `nats://${run}_${i}?consumer=c&declare=true`,
    async remove(topic, n) {
      for (let i = 0; i < n; i++) await topic.as().request(`$JS.API.STREAM.DELETE.${run}_${i}`);
    },
  },
  {
    name: "pg",
    package: "driver-postgres",
    port: Number(new URL(PG).port || 5432),
    options: () => ({ serverUrl: PG }),
    // One schema for the run: its table holds every topic's rows; a subscription is a row of its own.
    topic: (i) => `pg://${run}_${i}?declare=true&schema=${run}`,
    subscription: (i) => `pg://${run}_${i}?subscription=s&declare=true&schema=${run}`,
    remove: (topic) => topic.as().query(`DROP SCHEMA IF EXISTS ${run} CASCADE`),
  },
  {
    name: "gcp",
    package: "driver-gcp",
    port: () => Number(process.env.PUBSUB_EMULATOR_HOST?.split(":").pop()),
    options: () => ({ apiEndpoint: process.env.PUBSUB_EMULATOR_HOST }),
    topic: (i) => `gcppubsub://projects/${GCP_PROJECT}/topics/${run}-${i}`,
    subscription: (i) => `gcppubsub://projects/${GCP_PROJECT}/subscriptions/${run}-${i}`,
    // Pub/Sub has no declare: the topics and subscriptions are made beforehand, through the admin API, untimed.
    async prepare(n) {
      const { createPubSub } = await import("@portable-pubsub/driver-gcp");
      const admin = createPubSub(GCP_PROJECT, { apiEndpoint: process.env.PUBSUB_EMULATOR_HOST });
      for (let i = 0; i < n; i += 50) {
        await Promise.all(
          Array.from({ length: Math.min(50, n - i) }, async (_, k) => {
            const [topic] = await admin.createTopic(`${run}-${i + k}`);
            await topic.createSubscription(`${run}-${i + k}`);
          }),
        );
      }
      await admin.close();
    },
  },
];

/** TCP connections of this process that are established to `port` (Linux: /proc). */
function connectionsTo(port) {
  if (!port) return undefined;
  try {
    const inodes = new Set();
    for (const fd of readdirSync("/proc/self/fd")) {
      const link = (() => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`);
        } catch {
          return "";
        }
      })();
      const match = /^socket:\[(\d+)\]$/.exec(link);
      if (match) inodes.add(match[1]);
    }
    let count = 0;
    for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
      for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols.length < 10) continue;
        const remotePort = Number.parseInt(cols[2].split(":")[1], 16);
        if (remotePort === port && cols[3] === "01" && inodes.has(cols[9])) count++;
      }
    }
    return count;
  } catch {
    return undefined;
  }
}

const rssMiB = () => process.memoryUsage().rss / 2 ** 20;
const settle = async () => {
  for (let i = 0; i < 3; i++) {
    globalThis.gc?.();
    await new Promise((r) => setTimeout(r, 50));
  }
};
const seconds = async (work) => {
  const start = performance.now();
  await work();
  return (performance.now() - start) / 1000;
};

/** In the child: one driver, `n` subscriptions and `n` topics; prints one JSON line. */
async function measure(driver, n) {
  const { openSubscription, openTopic } = await import("@portable-pubsub/core");
  const options = driver.options();
  const port = typeof driver.port === "function" ? driver.port() : driver.port;
  await driver.prepare?.(n);
  // Warm-up: the driver module loaded, its code run once, on resource 0; then the baseline.
  const warmTopic = await openTopic(driver.topic(0), options);
  await (await openSubscription(driver.subscription(0), options)).shutdown();
  await settle();
  const baseline = rssMiB();
  const topics = [];
  const subs = [];
  // Topics first: rabbit's and nats's declaring subscriptions bind to the exchange or stream a topic declared.
  const openTopics = await seconds(async () => {
    const opened = await Promise.all(Array.from({ length: n }, (_, i) => openTopic(driver.topic(i), options)));
    topics.push(...opened);
  });
  const openSubs = await seconds(async () => {
    const opened = await Promise.all(
      Array.from({ length: n }, (_, i) => openSubscription(driver.subscription(i), options)),
    );
    subs.push(...opened);
  });
  // Every subscription receiving, as an application's would be: the cost of reading, not only of opening.
  const receiving = subs.map((sub) => sub.receive({ signal: AbortSignal.timeout(60_000) }).catch(() => {}));
  await new Promise((r) => setTimeout(r, 1500));
  await settle();
  const cpuStart = process.cpuUsage();
  await new Promise((r) => setTimeout(r, IDLE_WINDOW_MS));
  const cpu = process.cpuUsage(cpuStart);
  const result = {
    idleCpuPercent: ((cpu.user + cpu.system) / 1000 / IDLE_WINDOW_MS) * 100,
    driver: driver.name,
    n,
    connections: connectionsTo(port),
    serverConnections: await driver.serverConnections?.(warmTopic),
    rssMiB: rssMiB() - baseline,
    openSubs,
    openTopics,
  };
  result.shutdownSubs = await seconds(() => Promise.all(subs.map((s) => s.shutdown())));
  await Promise.all(receiving);
  result.shutdownTopics = await seconds(() => Promise.all(topics.map((t) => t.shutdown())));
  await driver.remove?.(warmTopic, n);
  await warmTopic.shutdown();
  console.log(JSON.stringify(result));
}

const args = process.argv.slice(2);
const child = args.find((a) => a.startsWith("--child="))?.slice(8);
const n = Number(args.find((a) => a.startsWith("--count="))?.slice(8) ?? 1000);
if (child !== undefined) {
  const driver = DRIVERS.find((d) => d.name === child);
  await withTimeout(measure(driver, n), 300_000, `${child}: ${n} subscriptions`);
  process.exit(0);
}

const SCHEME_WORDS = { pg: "postgres" };
const words = args.filter((a) => !a.startsWith("--") && !a.startsWith("subscription"));
const selected = DRIVERS.filter(
  (d) => words.length === 0 || words.some((w) => d.package.includes(w) || d.package.includes(SCHEME_WORDS[w] ?? w)),
);
if (selected.length === 0) {
  console.log(`cost per subscription: no driver package's name contains ${words.join(" or ")}; nothing to measure`);
  process.exit(0);
}

let emulator;
let failed = 0;
const env = { ...process.env };
try {
  if (selected.some((d) => d.name === "gcp") && env.PUBSUB_EMULATOR_HOST === undefined) {
    const { startEmulator } = await import("../packages/driver-gcp/test/launch-emulator.mjs");
    emulator = await startEmulator();
    env.PUBSUB_EMULATOR_HOST = emulator.address;
  }
  console.log(
    `cost per subscription: ${n} subscriptions and ${n} topics in one process, each on a resource of its own`,
  );
  console.log(
    "driver | connections | RSS growth | per sub+topic | idle CPU | open subs | open topics | shut subs | shut topics",
  );
  const self = fileURLToPath(import.meta.url);
  for (const driver of selected) {
    const out = spawnSync(process.execPath, ["--expose-gc", self, `--child=${driver.name}`, `--count=${n}`], {
      env,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    });
    const line = out.stdout.split("\n").find((l) => l.startsWith("{"));
    if (out.status !== 0 || line === undefined) {
      failed++;
      console.log(`${driver.name.padEnd(7)}| failed (exit ${out.status}) ${out.stdout.trim().slice(-300)}`);
      continue;
    }
    const r = JSON.parse(line);
    const conns =
      r.connections === undefined && r.serverConnections === undefined
        ? "-"
        : `${r.connections ?? "?"}${r.serverConnections === undefined ? "" : ` (server ${r.serverConnections})`}`;
    const s = (x) => `${x.toFixed(2)} s`;
    const goal = r.openSubs < GOAL_OPEN_S ? "" : ` (goal < ${GOAL_OPEN_S} s missed)`;
    console.log(
      `${r.driver.padEnd(7)}| ${conns.padStart(11)} | ${`${r.rssMiB.toFixed(1)} MiB`.padStart(10)} | ${`${((r.rssMiB * 1024) / (2 * n)).toFixed(1)} KiB`.padStart(13)} | ${`${r.idleCpuPercent.toFixed(1)} %`.padStart(8)} | ${s(r.openSubs).padStart(9)} | ${s(r.openTopics).padStart(11)} | ${s(r.shutdownSubs).padStart(9)} | ${s(r.shutdownTopics).padStart(11)}${goal}`,
    );
  }
} finally {
  await emulator?.stop();
}
process.exit(failed === 0 ? 0 : 1);

// rabbit:// recovery, through conformance's FaultProxy, with default settings (heartbeat 5 s, connect timeout 10 s):
//   cut:       ms from a cut of every connection (a TCP reset, as when a broker restarts) to the first confirmed send
//   partition: a silent partition of PARTITION_S seconds with a send waiting; ms from the heal to that send's
//              confirm. Two kinds: "held", FaultProxy.stall (every byte is held, both ways, and delivered at the
//              heal), and "dropped", a proxy that discards every byte while partitioned, as a network that
//              loses packets does: a connection attempt made during it never completes its handshake.
//   timeline:  sends at a steady pace through a cut followed by OUTAGE_MS of refused connections (a broker
//              restarting): per TIMELINE_BUCKET_MS, sends started, confirmed and failed, and the topic's health.
// Run after a build: node packages/driver-rabbit/benchmarks/recovery.mjs [runs] [partitionSeconds] [heartbeatSeconds]
// RABBIT_SERVER_URL defaults to amqp://guest:guest@127.0.0.1:5672.
import net from "node:net";
import { FaultProxy } from "@portable-pubsub/conformance";
import { openRabbitTopic } from "@portable-pubsub/driver-rabbit";
import { connect } from "amqplib";
import { median, report } from "../../../benchmarks/lib.mjs";

const SERVER_URL = process.env.RABBIT_SERVER_URL ?? "amqp://guest:guest@127.0.0.1:5672";
const [runsArg, partitionArg, heartbeatArg] = process.argv.slice(2).map(Number);
const RUNS = runsArg > 0 ? runsArg : 5;
const PARTITION_S = partitionArg > 0 ? partitionArg : 15;
/** Heartbeat in seconds: the default 5 unless given; a short one makes the driver dial during the partition sooner. */
const HEARTBEAT = heartbeatArg > 0 ? heartbeatArg : undefined;
const EXCHANGE = `pps-bench-recovery-${Math.random().toString(36).slice(2, 8)}`;
const BODY = Buffer.alloc(256, 120);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const admin = await connect(SERVER_URL);
admin.on("error", () => {});
const adminChannel = await admin.createChannel();
// Durable: another test suite may restart the broker meanwhile.
await adminChannel.assertExchange(EXCHANGE, "fanout", { durable: true });

const upstream = { host: new URL(SERVER_URL).hostname, port: Number(new URL(SERVER_URL).port || 5672) };

/** A topic through a fresh proxy, with default connection settings; `mandatory` off: no queue is bound. */
async function proxiedTopic(given) {
  const proxy = given ?? (await FaultProxy.start({ upstream }));
  const url = new URL(SERVER_URL);
  url.host = proxy.address;
  const settings = {
    serverUrl: url.href,
    connectionName: "bench-recovery",
    ...(HEARTBEAT ? { heartbeat: HEARTBEAT } : {}),
  };
  const topic = openRabbitTopic(settings, EXCHANGE, {
    mandatory: false,
  });
  await topic.send({ body: BODY });
  return { proxy, topic };
}

async function cuts() {
  const { proxy, topic } = await proxiedTopic();
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    await sleep(300);
    const cutAt = performance.now();
    proxy.cut();
    await topic.send({ body: BODY });
    times.push(performance.now() - cutAt);
  }
  await topic.shutdown({ signal: AbortSignal.timeout(5000) });
  await proxy.close();
  return times;
}

/**
 * A proxy with FaultProxy's address, stall() and resume(), whose stall drops bytes instead of holding them:
 * what a connection sends during it is lost for good.
 */
async function droppingProxy() {
  let dropping = false;
  const sockets = new Set();
  const server = net.createServer((client) => {
    const upstreamSocket = net.connect(upstream);
    for (const [from, to] of [
      [client, upstreamSocket],
      [upstreamSocket, client],
    ]) {
      sockets.add(from);
      from.on("error", () => {});
      from.on("data", (chunk) => {
        if (!dropping) to.write(chunk);
      });
      from.on("close", () => to.destroy());
    }
  });
  server.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  return {
    address: `127.0.0.1:${server.address().port}`,
    stall: () => {
      dropping = true;
    },
    resume: () => {
      dropping = false;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

async function partitions(kind) {
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    // A fresh proxy and connection each run: every partition starts from a healthy, idle connection.
    const { proxy, topic } = await proxiedTopic(kind === "dropped" ? await droppingProxy() : undefined);
    proxy.stall();
    await sleep(200);
    const waiting = topic.send({ body: BODY });
    await sleep(PARTITION_S * 1000 - 200);
    const healedAt = performance.now();
    proxy.resume();
    await waiting;
    times.push(performance.now() - healedAt);
    await topic.shutdown({ signal: AbortSignal.timeout(5000) });
    await proxy.close();
  }
  return times;
}

const TIMELINE_BUCKET_MS = 100;
const SEND_EVERY_MS = 5;
const BEFORE_CUT_MS = 1000;
const OUTAGE_MS = 2000;
const AFTER_OUTAGE_MS = 3000;

/** Sends every SEND_EVERY_MS through a cut and an outage; one point per bucket, counts in that bucket. */
async function timeline() {
  const { proxy, topic } = await proxiedTopic();
  const start = performance.now();
  const points = [];
  const bucket = () => {
    const t = Math.floor((performance.now() - start) / TIMELINE_BUCKET_MS) * TIMELINE_BUCKET_MS;
    let point = points.at(-1);
    if (point?.t !== t) {
      point = { t, sent: 0, confirmed: 0, failed: 0, state: topic.health.state };
      points.push(point);
    }
    return point;
  };
  const pending = [];
  const sampler = setInterval(bucket, TIMELINE_BUCKET_MS / 2);
  const sendFor = async (ms) => {
    const until = performance.now() + ms;
    while (performance.now() < until) {
      bucket().sent++;
      pending.push(
        topic.send({ body: BODY }).then(
          () => bucket().confirmed++,
          () => bucket().failed++,
        ),
      );
      await sleep(SEND_EVERY_MS);
    }
  };
  await sendFor(BEFORE_CUT_MS);
  const cutAtMs = performance.now() - start;
  proxy.refuse(true);
  proxy.cut();
  await sendFor(OUTAGE_MS);
  const healedAtMs = performance.now() - start;
  proxy.refuse(false);
  await sendFor(AFTER_OUTAGE_MS);
  await Promise.all(pending);
  clearInterval(sampler);
  await topic.shutdown({ signal: AbortSignal.timeout(5000) });
  await proxy.close();
  const total = (key) => points.reduce((sum, p) => sum + p[key], 0);
  console.log(
    `timeline: ${total("sent")} sends every ${SEND_EVERY_MS} ms, a cut at ${cutAtMs.toFixed(0)} ms and ${OUTAGE_MS} ms refused: ` +
      `${total("confirmed")} confirmed, ${total("failed")} failed; states ${[...new Set(points.map((p) => p.state))].join(" → ")}`,
  );
  return { bucketMs: TIMELINE_BUCKET_MS, cutAtMs, healedAtMs, points };
}

const show = (label, times) => {
  const sorted = [...times].sort((a, b) => a - b);
  const ms = (v) => `${v.toFixed(0)} ms`;
  console.log(
    `${label.padEnd(48)} ${String(times.length).padStart(2)} runs  median ${ms(median(times)).padStart(8)}` +
      `  min ${ms(sorted[0])}  max ${ms(sorted[sorted.length - 1])}  (${times.map((t) => t.toFixed(0)).join(", ")})`,
  );
};

try {
  console.log(
    `rabbit:// recovery through a FaultProxy to ${upstream.host}:${upstream.port}, ` +
      (HEARTBEAT ? `heartbeat ${HEARTBEAT} s, other settings default` : "default settings"),
  );
  const cut = await cuts();
  show("cut of every connection → first confirmed send", cut);
  const held = await partitions("held");
  show(`${PARTITION_S} s partition (held), heal → send confirmed`, held);
  const dropped = await partitions("dropped");
  show(`${PARTITION_S} s partition (dropped), heal → send confirmed`, dropped);
  report("recovery-rabbit", { partitionSeconds: PARTITION_S, cut, held, dropped, timeline: await timeline() });
} finally {
  await adminChannel.deleteExchange(EXCHANGE).catch(() => {});
  await admin.close().catch(() => {});
}

// nats:// through a 15 s silent partition (a FaultProxy that holds every byte, both ways, as a
// pulled cable would), with the driver's default settings (pings every 5 s, PubAck timeout 5 s):
// sends and receives go on before, during and after it. Prints what was sent, failed, received,
// duplicated and stored; exits 1 if anything was lost or a send failed.
// Run after a build: node packages/driver-nats/benchmarks/partition-soak.mjs [partition ms]
// The server is NATS_SERVER_URL, or nats://127.0.0.1:4222.
import { randomUUID } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { FaultProxy } from "@portable-pubsub/conformance";
import { openSubscription, openTopic } from "@portable-pubsub/core";
import { parseServerUrls } from "@portable-pubsub/driver-nats";

const SERVER = process.env.NATS_SERVER_URL ?? "nats://127.0.0.1:4222";
const PARTITION_MS = Number(process.argv[2] ?? 15_000);
const TOTAL = 4000;
const PUBLISHERS = 10;

const servers = parseServerUrls(SERVER).servers;
const [host, port] = [servers[0].slice(0, servers[0].lastIndexOf(":")), Number(servers[0].split(":").pop())];
const proxy = await FaultProxy.start({ upstream: { host, port } });
const serverUrl = `nats://${proxy.address}`;
const adminNc = await connect({ servers });
const jsm = await jetstreamManager(adminNc);
const stream = `soak_${randomUUID().slice(0, 8)}`;

const topic = await openTopic(`nats://${stream}?declare=true`, { serverUrl });
const subscription = await openSubscription(`nats://${stream}?consumer=soak&declare=true&ackDeadline=5s`, {
  serverUrl,
});
const health = [];
topic.onHealthChange((h) => health.push(`topic:${h.state}`));
subscription.onHealthChange((h) => health.push(`subscription:${h.state}`));

const seen = new Set();
let deliveries = 0;
const processing = subscription.process(
  (m) => {
    deliveries++;
    seen.add(m.text());
  },
  { concurrency: 8 },
);

let sent = 0;
let slowest = 0;
const failures = [];
const started = Date.now();
const sending = Promise.all(
  Array.from({ length: PUBLISHERS }, async (_, p) => {
    for (let i = p; i < TOTAL; i += PUBLISHERS) {
      const t = Date.now();
      await topic.send({ body: `m-${i}` }).catch((err) => failures.push(err));
      slowest = Math.max(slowest, Date.now() - t);
      sent++;
      await new Promise((r) => setTimeout(r, 25));
    }
  }),
);
while (sent < TOTAL / 4) await new Promise((r) => setTimeout(r, 50));
console.log(`${((Date.now() - started) / 1000).toFixed(1)} s: ${sent} sent; partition for ${PARTITION_MS} ms`);
proxy.stall();
await new Promise((r) => setTimeout(r, PARTITION_MS));
const duringPartition = sent;
proxy.resume();
console.log(`${((Date.now() - started) / 1000).toFixed(1)} s: partition over, ${duringPartition} sends settled so far`);
await sending;
const deadline = Date.now() + 60_000;
while (seen.size < TOTAL && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
const stored = (await jsm.streams.info(stream)).state.messages;
console.log(
  `partition ${PARTITION_MS} ms: ${TOTAL} sent, ${failures.length} failed sends, ${seen.size} distinct received ` +
    `(${TOTAL - seen.size} lost), ${deliveries - seen.size} duplicate deliveries, ${stored} stored ` +
    `(${stored - TOTAL} duplicates stored), slowest send ${slowest} ms, ${proxy.accepted} connections, ` +
    `${((Date.now() - started) / 1000).toFixed(1)} s in all`,
);
console.log(`health: ${health.join(" ")}`);
await subscription.shutdown();
await processing.catch(() => {});
await topic.shutdown();
await jsm.streams.delete(stream);
await adminNc.close();
await proxy.close();
process.exit(failures.length === 0 && seen.size === TOTAL && stored === TOTAL ? 0 : 1);

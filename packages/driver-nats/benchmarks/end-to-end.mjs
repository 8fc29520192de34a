// nats:// end to end (send N with PubAcks, receive and ack N through a durable pull consumer)
// against the raw JetStream client doing the same work in the same run: js.publish with a
// Nats-Msg-Id per message and at most WINDOW unacknowledged, and consume() of the same pull
// consumer settings, acking each message. Prints msgs/s and the ratio ours / raw.
// Run after a build: node packages/driver-nats/benchmarks/end-to-end.mjs [counts...]
// The server is NATS_SERVER_URL, or nats://127.0.0.1:4222.
import { randomUUID } from "node:crypto";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { connectionOptions, openNatsSubscription, openNatsTopic, parseServerUrls } from "@portable-pubsub/driver-nats";
import { fmt, indexedBody, median, rate, report, sendWindowed, tally, withTimeout } from "../../../benchmarks/lib.mjs";

const SERVER = process.env.NATS_SERVER_URL ?? "nats://127.0.0.1:4222";
const counts = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const COUNTS = counts.length > 0 ? counts : [20_000, 50_000];
const RUNS = Number(process.env.RUNS ?? 5);
const BODY_BYTES = 100;
const WINDOW = 1000; // sends awaiting their PubAck at once, for both contenders
const PULL = 256; // messages per pull request, for both (ours: the prefetch default)
const TIMEOUT_MS = 120_000;

const options = connectionOptions(parseServerUrls(SERVER));
const adminNc = await connect(options);
const jsm = await jetstreamManager(adminNc);

async function freshStream() {
  const stream = `bench_${randomUUID().slice(0, 8)}`;
  await jsm.streams.add({ name: stream, subjects: [stream] });
  await jsm.consumers.add(stream, { durable_name: "bench", ack_policy: AckPolicy.Explicit, max_ack_pending: 20_000 });
  return { stream, cleanup: () => jsm.streams.delete(stream) };
}

/** Ours: a portable Topic and Subscription over the driver; `process` acks each message. */
async function ours(n) {
  const { stream, cleanup } = await freshStream();
  const producer = await connect(options);
  const consumer = await connect(options);
  const topic = openNatsTopic(producer, stream);
  await topic.ready();
  const subscription = await openNatsSubscription(consumer, stream, "bench", {
    prefetch: PULL,
    maxReceiveBatchSize: PULL,
  });
  const got = tally(n, BODY_BYTES);
  const cpu = process.cpuUsage();
  const start = performance.now();
  const processing = subscription.process((message) => got.add(message.body), { concurrency: 16 });
  await sendWindowed(n, WINDOW, (i) => topic.send({ body: indexedBody(i, BODY_BYTES) }));
  const end = await withTimeout(got.allIn, TIMEOUT_MS, "ours");
  const used = process.cpuUsage(cpu);
  await subscription.shutdown();
  await processing;
  await topic.shutdown();
  await producer.close();
  await consumer.close();
  await cleanup();
  return { ms: end - start, cpuUs: used.user + used.system };
}

/** Raw: js.publish with a Nats-Msg-Id, WINDOW in flight; consume() with the same pull size, ack each. */
async function raw(n) {
  const { stream, cleanup } = await freshStream();
  const producer = await connect(options);
  const consumerNc = await connect(options);
  const js = jetstream(producer);
  const consumer = await jetstream(consumerNc).consumers.get(stream, "bench");
  const got = tally(n, BODY_BYTES);
  const cpu = process.cpuUsage();
  const start = performance.now();
  const messages = await consumer.consume({ max_messages: PULL });
  const reading = (async () => {
    for await (const m of messages) {
      got.add(m.data);
      m.ack();
    }
  })();
  const prefix = `${randomUUID().slice(0, 12)}-`;
  await sendWindowed(n, WINDOW, (i) =>
    js.publish(stream, indexedBody(i, BODY_BYTES), { msgID: prefix + i.toString(36) }),
  );
  const end = await withTimeout(got.allIn, TIMEOUT_MS, "raw");
  const used = process.cpuUsage(cpu);
  messages.stop();
  await reading;
  await producer.close();
  await consumerNc.close();
  await cleanup();
  return { ms: end - start, cpuUs: used.user + used.system };
}

console.log(
  `nats end to end against the raw JetStream client, ${BODY_BYTES}-byte bodies, window ${WINDOW}, pulls of ${PULL}, ${RUNS} runs each, median`,
);
await ours(5000);
await raw(5000);
const runs = [];
for (const n of COUNTS) {
  const oursRuns = [];
  const rawRuns = [];
  for (let r = 0; r < RUNS; r++) {
    // Alternate who goes first, so that neither always runs on a warmer server.
    if (r % 2 === 0) {
      oursRuns.push(await ours(n));
      rawRuns.push(await raw(n));
    } else {
      rawRuns.push(await raw(n));
      oursRuns.push(await ours(n));
    }
  }
  const o = median(oursRuns.map((r) => r.ms));
  const w = median(rawRuns.map((r) => r.ms));
  runs.push({ messages: n, rates: { "nats://": rate(n, o), "@nats-io/jetstream": rate(n, w) } });
  const cpuPerMsg = (runs) => (median(runs.map((r) => r.cpuUs)) / n).toFixed(1);
  console.log(
    `${fmt(n)} msgs: ours ${fmt(rate(n, o))} msgs/s (${o.toFixed(0)} ms, ${cpuPerMsg(oursRuns)} µs CPU/msg), ` +
      `raw ${fmt(rate(n, w))} msgs/s (${w.toFixed(0)} ms, ${cpuPerMsg(rawRuns)} µs CPU/msg), ratio ours/raw ${(w / o).toFixed(2)}`,
  );
}
report("end-to-end-nats", { ours: "nats://", runs });
await adminNc.close();

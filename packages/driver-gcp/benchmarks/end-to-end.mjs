// gcppubsub:// end to end (publish N, receive and ack N) against raw @google-cloud/pubsub doing
// the same work in the same run, both against the Pub/Sub emulator (started here unless
// PUBSUB_EMULATOR_HOST is set). Prints msgs/s and the ratio ours / raw.
// Run after a build: node packages/driver-gcp/benchmarks/end-to-end.mjs [counts...]
import { randomUUID } from "node:crypto";
import { createPubSub, openGcpSubscription, openGcpTopic } from "@portable-pubsub/driver-gcp";
import { fmt, indexedBody, rate, report, sendWindowed, tally, withTimeout } from "../../../benchmarks/lib.mjs";
import { startEmulator } from "../test/launch-emulator.mjs";

const counts = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const COUNTS = counts.length > 0 ? counts : [5_000, 20_000];
const RUNS = 3;
const BODY_BYTES = 100;
const WINDOW = 1000; // publishes in flight at once, for both contenders
const PROJECT = "bench";
const TIMEOUT_MS = 120_000;

const emulator = process.env.PUBSUB_EMULATOR_HOST ? undefined : await startEmulator();
const endpoint = process.env.PUBSUB_EMULATOR_HOST ?? emulator.address;
const admin = createPubSub(PROJECT, { apiEndpoint: endpoint });

async function freshPair() {
  const [topic] = await admin.createTopic(`bench-${randomUUID().slice(0, 8)}`);
  const [subscription] = await topic.createSubscription(`bench-${randomUUID().slice(0, 8)}`, {
    ackDeadlineSeconds: 60,
  });
  return {
    topic: topic.name,
    subscription: subscription.name,
    cleanup: () => Promise.all([subscription.delete(), topic.delete()]),
  };
}

/** Ours: a portable Topic and Subscription over the driver; `process` acks each message. */
async function ours(n) {
  const names = await freshPair();
  const pubsub = createPubSub(PROJECT, { apiEndpoint: endpoint });
  const topic = openGcpTopic(pubsub, names.topic);
  const subscription = openGcpSubscription(pubsub, names.subscription);
  const got = tally(n, BODY_BYTES);
  const start = performance.now();
  const processing = subscription.process((message) => got.add(message.body), { concurrency: 16 });
  await sendWindowed(n, WINDOW, (i) => topic.send({ body: indexedBody(i, BODY_BYTES) }));
  const end = await withTimeout(got.allIn, TIMEOUT_MS, "ours");
  await subscription.shutdown();
  await processing;
  await topic.shutdown();
  await pubsub.close();
  await names.cleanup();
  return end - start;
}

/**
 * Raw: the client library's own Topic (its batching) and Subscription (streaming pull), acking
 * each message; with its default settings, or tuned to batch as eagerly as ours.
 */
async function raw(n, tuned) {
  const names = await freshPair();
  const pubsub = createPubSub(PROJECT, { apiEndpoint: endpoint });
  const topic = pubsub.topic(names.topic, tuned ? { batching: { maxMessages: 1000, maxMilliseconds: 5 } } : {});
  // Tuned, acks leave every 5 ms instead of every 100: with 1000 messages outstanding at most,
  // the ack interval otherwise caps throughput near 10,000 msgs/s.
  const subscription = pubsub.subscription(names.subscription, tuned ? { batching: { maxMilliseconds: 5 } } : {});
  const got = tally(n, BODY_BYTES);
  const start = performance.now();
  subscription.on("message", (message) => {
    got.add(message.data);
    message.ack();
  });
  subscription.on("error", (err) => console.error("raw subscription error:", err.message));
  await sendWindowed(n, WINDOW, (i) => topic.publishMessage({ data: indexedBody(i, BODY_BYTES) }));
  const end = await withTimeout(got.allIn, TIMEOUT_MS, "raw");
  await subscription.close();
  await topic.flush();
  await pubsub.close();
  await names.cleanup();
  return end - start;
}

try {
  console.log(`gcppubsub:// end to end against the Pub/Sub emulator, 100-byte messages, publish window ${WINDOW}`);
  console.log(`(publish N and receive + ack N; median of ${RUNS} runs, contenders alternating)`);
  console.log(
    "raw: client library defaults; raw tuned: publish batches of up to 1000 messages / 5 ms, acks every 5 ms",
  );
  console.log("messages   | ours msgs/s | raw msgs/s | raw tuned msgs/s | ratio vs raw | ratio vs tuned");
  await ours(2000); // warm-up: JIT, emulator, connections
  await raw(2000, false);
  await raw(2000, true);
  let worst = Number.POSITIVE_INFINITY;
  const runs = [];
  for (const n of COUNTS) {
    const times = { ours: [], raw: [], tuned: [] };
    for (let i = 0; i < RUNS; i++) {
      times.raw.push(await raw(n, false));
      times.tuned.push(await raw(n, true));
      times.ours.push(await ours(n));
    }
    const mid = (t) => t.sort((a, b) => a - b)[Math.floor(t.length / 2)];
    const o = rate(n, mid(times.ours));
    const r = rate(n, mid(times.raw));
    const t = rate(n, mid(times.tuned));
    worst = Math.min(worst, o / r, o / t);
    runs.push({
      messages: n,
      rates: { "gcppubsub://": o, "@google-cloud/pubsub": r, "@google-cloud/pubsub (tuned)": t },
    });
    console.log(
      `${fmt(n).padStart(10)} | ${fmt(o).padStart(11)} | ${fmt(r).padStart(10)} | ${fmt(t).padStart(16)} | ${(o / r).toFixed(2).padStart(12)} | ${(o / t).toFixed(2).padStart(14)}`,
    );
  }
  console.log(`lowest ratio: ${worst.toFixed(2)} (target 0.90)`);
  report("end-to-end-gcp", { ours: "gcppubsub://", runs });
} finally {
  await admin.close();
  await emulator?.stop();
}

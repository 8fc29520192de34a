// mem:// end to end (send, receive, ack) against a bare in-process queue doing
// the same hand-off in the same run. Prints msgs/s, peak RSS and the ratio.
// Run: node --expose-gc packages/driver-memory/benchmarks/end-to-end.mjs [counts...]
import { MemBroker, openMemSubscription, openMemTopic } from "@portable-pubsub/driver-memory";
import { fmt, processUntilAllIn, rate, report, sendWindowed } from "../../../benchmarks/lib.mjs";

const counts = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const COUNTS = counts.length > 0 ? counts : [10_000, 100_000, 1_000_000];
const BODY = new Uint8Array(100).fill(120);
const WINDOW = 1000; // sends in flight at once, for both contenders: keeps memory bounded

let peakRss = 0;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 20);

async function ours(n) {
  const broker = new MemBroker();
  const topic = openMemTopic("bench", { broker });
  const subscription = openMemSubscription("bench", { broker, subscription: "bench" });
  let bytes = 0;
  const ms = await processUntilAllIn(n, {
    topic,
    subscription,
    send: () => topic.send({ body: BODY }),
    handle: (message) => {
      bytes += message.body.byteLength;
    },
    window: WINDOW,
    processOptions: { concurrency: 1 },
  });
  if (bytes !== n * BODY.byteLength) throw new Error(`lost bytes: ${bytes} of ${n * BODY.byteLength}`);
  return ms;
}

/** The baseline: an array queue with a waiting consumer, and a promise per message resolved on hand-off. */
async function bare(n) {
  const queue = [];
  let wake;
  let received = 0;
  let bytes = 0;
  const start = performance.now();
  const consumer = (async () => {
    while (received < n) {
      if (queue.length === 0) await new Promise((r) => (wake = r));
      const batch = queue.splice(0);
      for (const { body, resolve } of batch) {
        resolve();
        bytes += body.byteLength;
        received++;
      }
    }
  })();
  await sendWindowed(
    n,
    WINDOW,
    () =>
      new Promise((resolve) => {
        queue.push({ body: BODY, resolve });
        wake?.();
      }),
  );
  await consumer;
  const ms = performance.now() - start;
  if (received !== n || bytes !== n * BODY.byteLength) throw new Error("baseline lost messages");
  return ms;
}

/**
 * Runs the contenders alternately, `runs` times each, and returns each one's
 * mean time per run. A mean over many runs, not a median: garbage collection
 * pauses land in some small runs and not others, and every message must carry
 * its share of them, as it does in one long run.
 */
async function alternate(runs, contenders) {
  const totals = contenders.map(() => 0);
  for (let i = 0; i < runs; i++) {
    for (let c = 0; c < contenders.length; c++) totals[c] += await contenders[c]();
  }
  return totals.map((t) => t / runs);
}

console.log("mem:// end to end, 100-byte messages, send window 1000, consumer concurrency 1");
console.log("(each size: runs of that many messages until 1M passed, contenders alternating; mean over the runs)");
console.log("messages   | ours msgs/s | bare msgs/s | ratio | peak RSS");
// Warm-up: V8 needs a few hundred thousand messages before its optimised code settles.
await ours(300_000);
await bare(300_000);
const results = [];
for (const n of COUNTS) {
  globalThis.gc?.();
  peakRss = process.memoryUsage.rss();
  // Every size passes 1M messages in all: 100 runs of 10k, 10 of 100k, 1 of 1M.
  const runs = Math.max(1, Math.ceil(1_000_000 / n));
  const [baseMs, oursMs] = await alternate(runs, [() => bare(n), () => ours(n)]);
  const row = { n, ours: rate(n, oursMs), bare: rate(n, baseMs), rssMiB: Math.round(peakRss / 2 ** 20) };
  results.push(row);
  console.log(
    `${fmt(n).padStart(10)} | ${fmt(row.ours).padStart(11)} | ${fmt(row.bare).padStart(11)} | ${(row.ours / row.bare).toFixed(2).padStart(5)} | ${row.rssMiB} MiB`,
  );
}
clearInterval(sampler);
const flat = results.at(-1).ours / results[0].ours;
report("end-to-end-memory", {
  ours: "mem://",
  runs: results.map((r) => ({ messages: r.n, rates: { "mem://": r.ours, "bare queue": r.bare } })),
});
console.log(`throughput at ${fmt(COUNTS.at(-1))} vs ${fmt(COUNTS[0])}: ${flat.toFixed(2)}x (1.00 = flat)`);

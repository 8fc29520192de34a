// rabbit:// end to end with default settings, against hand-tuned amqplib in the same run, on the same broker:
// 1,000 sends in flight, 256-byte persistent bodies, one queue, consumed and acked one by one.
//   rabbit://  openRabbitTopic / openRabbitSubscription with no options; a receive loop that acks each message
//   amqplib    a confirm channel (1,000-message window) on one connection, a consumer with prefetch 500 on another
// Rounds alternate who goes first; the ratio is the median of per-round ratios (the machine's load drifts).
// Run after a build: node packages/driver-rabbit/benchmarks/end-to-end.mjs [count] [rounds]
// (RABBIT_BENCH_PREFETCH=N: rabbit:// with a fixed prefetch instead of the default, to compare.)
// RABBIT_SERVER_URL defaults to amqp://guest:guest@127.0.0.1:5672.
import { openRabbitSubscription, openRabbitTopic } from "@portable-pubsub/driver-rabbit";
import { connect } from "amqplib";
import { fmt, indexedBody, median, report, sendWindowed, tally, withTimeout } from "../../../benchmarks/lib.mjs";
import { benchQueue, SERVER_URL } from "./lib/bench-queue.mjs";

const [countArg, roundsArg] = process.argv.slice(2).map(Number);
const COUNT = countArg > 0 ? countArg : 20_000;
const ROUNDS = roundsArg > 0 ? roundsArg : 7;
const WINDOW = 1000;
/** RABBIT_BENCH_PREFETCH=500 gives rabbit:// a fixed prefetch instead of its default, for comparison. */
const PREFETCH = Number(process.env.RABBIT_BENCH_PREFETCH) || undefined;
const SIZE = 256;
const BODIES = Array.from({ length: COUNT }, (_, i) => indexedBody(i, SIZE));
// A queue each: both consumers stay subscribed all the time, and must not take each other's messages.
const benches = [await benchQueue("pps-bench-e2e-raw"), await benchQueue("pps-bench-e2e-ours")];

/** Hand-tuned amqplib: a confirm channel with no-delay, and a consumer with prefetch 500 on its own connection. */
async function raw({ exchange, queue }) {
  const open = async () => {
    const c = await connect(SERVER_URL, { noDelay: true });
    c.on("error", () => {});
    return c;
  };
  const [pub, sub] = [await open(), await open()];
  const confirm = await pub.createConfirmChannel();
  const consume = await sub.createChannel();
  await consume.prefetch(500);
  let counter;
  await consume.consume(queue, (m) => {
    counter?.add(m.content);
    consume.ack(m);
  });
  const options = { persistent: true, mandatory: true };
  return {
    async run(received) {
      counter = received;
      await sendWindowed(
        COUNT,
        WINDOW,
        (i) =>
          new Promise((resolve, reject) => {
            confirm.publish(exchange, "", BODIES[i], options, (err) => (err ? reject(err) : resolve()));
          }),
      );
    },
    close: async () => {
      await pub.close();
      await sub.close();
    },
  };
}

/** rabbit:// with no options at all. */
async function ours({ exchange, queue }) {
  const topic = openRabbitTopic({ serverUrl: SERVER_URL }, exchange);
  const subscription = openRabbitSubscription({ serverUrl: SERVER_URL }, queue, PREFETCH ? { prefetch: PREFETCH } : {});
  await Promise.all([topic.ready(), subscription.ready()]);
  let counter;
  const stop = new AbortController();
  const receiving = (async () => {
    for (;;) {
      const m = await subscription.receive({ signal: stop.signal }).catch(() => undefined);
      if (!m) return;
      counter?.add(m.body);
      m.ack();
    }
  })();
  return {
    async run(received) {
      counter = received;
      await sendWindowed(COUNT, WINDOW, (i) => topic.send({ body: BODIES[i] }));
    },
    close: async () => {
      stop.abort();
      await receiving;
      await subscription.shutdown();
      await topic.shutdown();
    },
  };
}

const contenders = { amqplib: await raw(benches[0]), "rabbit://": await ours(benches[1]) };
const rounds = [];
try {
  // One warm-up round each, not counted.
  for (const round of [-1, ...Array.from({ length: ROUNDS }, (_, i) => i)]) {
    const order = round % 2 === 0 ? ["amqplib", "rabbit://"] : ["rabbit://", "amqplib"];
    const rate = {};
    for (const name of order) {
      const received = tally(COUNT, SIZE);
      const start = performance.now();
      await contenders[name].run(received);
      const end = await withTimeout(received.allIn, 60_000, `${name} receiving ${COUNT}`);
      rate[name] = COUNT / ((end - start) / 1000);
    }
    if (round >= 0) rounds.push({ ...rate, ratio: rate["rabbit://"] / rate.amqplib });
  }
} finally {
  for (const c of Object.values(contenders)) await c.close().catch(() => {});
  for (const bench of benches) await bench.remove();
}
const per = (name) => fmt(Math.round(median(rounds.map((r) => r[name])))).padStart(7);
const ratios = rounds.map((r) => r.ratio);
console.log(
  `end to end, ${fmt(COUNT)} × ${SIZE} B, 1,000 in flight: rabbit:// (${PREFETCH ? `prefetch ${PREFETCH}` : "defaults"}) ${per("rabbit://")} msg/s` +
    `  amqplib (prefetch 500) ${per("amqplib")} msg/s  ratio ${median(ratios).toFixed(2)}` +
    ` (median of ${ROUNDS}; rounds ${ratios.map((r) => r.toFixed(2)).join(", ")})`,
);
report("end-to-end-rabbit", {
  ours: "rabbit://",
  runs: [
    {
      messages: COUNT,
      rates: { "rabbit://": median(rounds.map((r) => r["rabbit://"])), amqplib: median(rounds.map((r) => r.amqplib)) },
      ratios: { amqplib: median(ratios) },
    },
  ],
});

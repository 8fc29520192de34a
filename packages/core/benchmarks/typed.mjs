// Typed messages on mem://, end to end (send, receive, ack), n messages of a small order:
//   typed     openTopic/openSubscription with a zod schema: send({ data }) validates and encodes,
//             the handler reads msg.data (decoded and validated by the subscription);
//   typed subscription   the same JSON bytes sent untyped (as by hand), received on a typed
//             subscription: exactly the work the handler's JSON.parse and schema.parse did by hand;
//   by hand   untyped, the same JSON bytes and content type sent, and the handler doing
//             Order.parse(JSON.parse(msg.text())) itself: the code typed messages replace;
//   by hand, validated on send too   as above, and Order.parse(data) before each send, as a typed send does;
//   untyped   bytes only, the handler reading msg.body: today's path.
// Prints msgs/s (median of the rounds) and the ratios; the goal is typed within 10% of by hand. A typed
// send validates too, which the by-hand handler does not, so typed end to end is compared with by hand
// validated on send too, and the typed subscription alone with by hand: like for like.
// With PUBSUB_BENCH_BASELINE=/path/to/another/checkout (built), untyped also runs on that
// checkout's core, and the ratio to it is printed: the untyped path must not be slower than before.
//
// Run after a build: node --expose-gc packages/core/benchmarks/typed.mjs [--messages=N] [--rounds=N]
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { openSubscription, openTopic } from "@portable-pubsub/core";
import { z } from "zod";
import { fmt, median, processUntilAllIn, rate } from "../../../benchmarks/lib.mjs";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const given = args.find((a) => a.startsWith(`--${name}=`));
  return given ? Number(given.slice(name.length + 3)) : fallback;
};
const N = option("messages", 100_000);
const ROUNDS = option("rounds", 5);
const WINDOW = 1000;

const Order = z.object({
  id: z.string(),
  customer: z.string(),
  qty: z.number().int().positive(),
  price: z.number().nonnegative(),
  lines: z.array(z.object({ sku: z.string(), n: z.number().int() })),
});
const order = (i) => ({ id: `o-${i}`, customer: "c-42", qty: 2, price: 19.5, lines: [{ sku: "s-1", n: 2 }] });
const JSON_TYPE = { "content-type": "application/json" };

/** One run of `n` messages through a fresh mem:// topic; resolves with the elapsed ms until the last hand-off. */
async function run(core, n, { topicOptions, subscriptionOptions, send, handle }) {
  const name = `typed-bench-${randomUUID().slice(0, 8)}`;
  const topic = await core.openTopic(`mem://${name}`, topicOptions);
  const subscription = await core.openSubscription(`mem://${name}?subscription=s`, subscriptionOptions);
  let sink = 0;
  const ms = await processUntilAllIn(n, {
    topic,
    subscription,
    send: (i) => send(topic, i),
    handle: (message) => {
      sink += handle(message);
    },
    window: WINDOW,
  });
  if (sink < 0) console.log(sink); // keeps the handlers' work from being optimized away
  return ms;
}

const contenders = {
  typed: {
    topicOptions: { schema: Order },
    subscriptionOptions: { schema: Order },
    send: (topic, i) => topic.send({ data: order(i) }),
    handle: (message) => message.data.qty,
  },
  "typed subscription": {
    subscriptionOptions: { schema: Order },
    send: (topic, i) => topic.send({ body: JSON.stringify(order(i)), metadata: JSON_TYPE }),
    handle: (message) => message.data.qty,
  },
  "by hand": {
    send: (topic, i) => topic.send({ body: JSON.stringify(order(i)), metadata: JSON_TYPE }),
    handle: (message) => Order.parse(JSON.parse(message.text())).qty,
  },
  "by hand, validated on send too": {
    send: (topic, i) => topic.send({ body: JSON.stringify(Order.parse(order(i))), metadata: JSON_TYPE }),
    handle: (message) => Order.parse(JSON.parse(message.text())).qty,
  },
  untyped: {
    send: (topic, i) => topic.send({ body: JSON.stringify(order(i)) }),
    handle: (message) => message.body.byteLength,
  },
};

const cores = { this: { openTopic, openSubscription } };
const baselineDir = process.env.PUBSUB_BENCH_BASELINE;
if (baselineDir) {
  cores.baseline = await import(pathToFileURL(join(baselineDir, "packages/core/dist/index.js")).href);
}

const runs = [];
for (const [label, contender] of Object.entries(contenders)) runs.push({ label, core: cores.this, contender });
if (cores.baseline)
  runs.push({ label: "untyped, baseline checkout", core: cores.baseline, contender: contenders.untyped });

// Warm up every contender once, then interleave the rounds so that drift hits them all alike.
for (const r of runs) await run(r.core, Math.min(N, 20_000), r.contender);
const times = new Map(runs.map((r) => [r.label, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const r of runs) {
    times.get(r.label).push(await run(r.core, N, r.contender));
  }
}
const rates = new Map([...times].map(([label, ms]) => [label, rate(N, median(ms))]));
console.log(`mem:// end to end, ${fmt(N)} messages, median of ${ROUNDS} rounds`);
for (const [label, perSecond] of rates) console.log(`  ${label.padEnd(32)} ${fmt(perSecond).padStart(10)} msgs/s`);
const ratio = (a, b) => (rates.get(b) / rates.get(a)).toFixed(3);
console.log(
  `typed subscription cost / by hand (decode and validate in the handler): ${ratio("typed subscription", "by hand")} (goal: at most 1.10)`,
);
console.log(
  `typed cost / by hand validated on send too (the same work end to end):  ${ratio("typed", "by hand, validated on send too")} (goal: at most 1.10)`,
);
console.log(`typed cost / by hand (a typed send validates, by hand does not):        ${ratio("typed", "by hand")}`);
if (cores.baseline) {
  console.log(
    `untyped cost / baseline checkout's untyped:       ${ratio("untyped", "untyped, baseline checkout")} (goal: at most 1.00, within noise)`,
  );
} else {
  console.log("untyped vs before: set PUBSUB_BENCH_BASELINE to another built checkout to compare");
}

// The idempotent consumer's cost (issue 25, must 5): end to end with the `idempotency` option against the
// same subscription without it, in the same run, alternating who goes first; the ratio is the median of the
// per-round ratios.
//   rabbit://  process() at concurrency 16, 256-byte bodies: redisIdempotencyStore on REDIS_SERVER_URL (the issue's
//              goal >= 0.8x) and memoryIdempotencyStore (goal >= 0.9x)
//   mem://     memoryIdempotencyStore, process() at concurrency 1, 100-byte bodies: a harder test than the issue
//              asks (no broker to hide the store behind), with the floor under any Map-based store printed
// Claims go to the store once per received batch, done-marks in batches as acks go: this measures that they do.
// rabbit:// runs twice: with its automatic prefetch (500 unacked, doubled up to 2,000 while the window starves the
// consumer), and with prefetch 2000 on both sides, since a message with idempotency stays unacked two store round
// trips longer, which a fixed window feels.
// Run after a build: node benchmarks/idempotency.mjs [words...] (words: mem, memory, rabbit, redis, idempotency;
// none for both). RABBIT_SERVER_URL and REDIS_SERVER_URL default to the local servers.
import { memoryIdempotencyStore, newMessageId } from "@portable-pubsub/core";
import { MemBroker, openMemSubscription, openMemTopic } from "@portable-pubsub/driver-memory";
import { openRabbitSubscription, openRabbitTopic } from "@portable-pubsub/driver-rabbit";
import { redisIdempotencyStore } from "@portable-pubsub/driver-redis";
import { benchQueue, SERVER_URL } from "../packages/driver-rabbit/benchmarks/lib/bench-queue.mjs";
import { fmt, indexedBody, median, processUntilAllIn, sendWindowed, tally, withTimeout } from "./lib.mjs";

const REDIS_URL = process.env.REDIS_SERVER_URL ?? "redis://127.0.0.1:6379";
const words = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const wants = (...names) => words.length === 0 || words.includes("idempotency") || names.some((n) => words.includes(n));

/**
 * Runs `rounds` rounds (plus one warm-up) of each contender, alternating the order, and prints the
 * median rates and, for each contender but the last (the baseline, without idempotency), the median of
 * the per-round ratios `contender / baseline` against `goals[name]`; returns the median rate of each, by name.
 */
async function compare(label, goals, rounds, contenders) {
  const names = Object.keys(contenders);
  const baseline = names[names.length - 1];
  const results = [];
  for (const round of [-1, ...Array.from({ length: rounds }, (_, i) => i)]) {
    const order = round % 2 === 0 ? names : [...names].reverse();
    const rate = {};
    for (const name of order) {
      rate[name] = await contenders[name]();
    }
    if (round >= 0) results.push(rate);
  }
  const medianRate = (name) => median(results.map((r) => r[name]));
  console.log(`${label}: ${names.map((name) => `${name} ${fmt(Math.round(medianRate(name)))} msg/s`).join(", ")}`);
  for (const name of names.slice(0, -1)) {
    const ratios = results.map((r) => r[name] / r[baseline]);
    console.log(
      `  ${name}: ratio ${median(ratios).toFixed(2)} (${goals[name] ? `goal >= ${goals[name]}` : "no goal"}; median of ${rounds}; ` +
        `rounds ${ratios.map((r) => r.toFixed(2)).join(", ")})`,
    );
  }
  return Object.fromEntries(names.map((name) => [name, medianRate(name)]));
}

/**
 * The floor under any in-memory store of the default size: ns per id (wall time) of a bare Map of 100,000
 * string keys (number values, no entry objects) doing what a store must per message (look the id up, insert
 * it, evict the oldest, mark it done), each id a fresh flat string (a generated one), as a received one is.
 * Making the ids is timed alone and taken off. Best of 3 passes of 1,000,000 ids.
 */
function mapFloorNs() {
  const N = 1_000_000;
  const MAX = 100_000;
  // Wall time, as the end-to-end rates are (CPU time would add the collector's helper threads).
  const ns = (work) => {
    const start = performance.now();
    work();
    return ((performance.now() - start) * 1e6) / N;
  };
  let best = Number.POSITIVE_INFINITY;
  for (let pass = 0; pass < 3; pass++) {
    let sink = 0;
    const making = ns(() => {
      for (let i = 0; i < N; i++) sink += newMessageId().length;
    });
    const map = new Map();
    const order = new Array(MAX + 1);
    const storing = ns(() => {
      for (let i = 0; i < N; i++) {
        const id = newMessageId();
        if (map.get(id) === undefined) map.set(id, 1);
        order[i % (MAX + 1)] = id;
        if (map.size > MAX) map.delete(order[(i + 1) % (MAX + 1)]);
        map.set(id, 2);
      }
    });
    if (sink !== 36 * N) throw new Error("ids of the wrong length");
    best = Math.min(best, storing - making);
  }
  return best;
}

if (wants("mem", "memory")) {
  const COUNT = 200_000;
  const BODY = new Uint8Array(100).fill(120);
  const store = memoryIdempotencyStore();
  /** One run on a fresh broker: send COUNT with 1,000 in flight while process() handles them; returns msg/s. */
  const mem = (options) => async () => {
    const broker = new MemBroker();
    const topic = openMemTopic("bench", { broker });
    const subscription = openMemSubscription("bench", { broker, subscription: "bench", ...options });
    const ms = await processUntilAllIn(COUNT, { topic, subscription, send: () => topic.send({ body: BODY }) });
    return COUNT / (ms / 1000);
  };
  const { without } = await compare("mem:// end to end, 200,000 × 100 B, process()", {}, 7, {
    "with memoryIdempotencyStore": mem({ idempotency: { store } }),
    without: mem({}),
  });
  // What the goal asks of any store here: at `without` msg/s a message has 1e9 / without ns in all; a store
  // that adds the floor's ns per message can reach at best (1e9 / without) / (1e9 / without + floor).
  const floor = mapFloorNs();
  const perMessage = 1e9 / without;
  console.log(
    `  floor: a bare Map of 100,000 ids doing a store's 4 operations takes ${floor.toFixed(0)} ns per id; ` +
      `beside mem://'s ${perMessage.toFixed(0)} ns per message without a store, no Map-based store can pass ` +
      `${(perMessage / (perMessage + floor)).toFixed(2)}x`,
  );
}

if (wants("rabbit", "redis")) {
  const COUNT = 20_000;
  const SIZE = 256;
  const BODIES = Array.from({ length: COUNT }, (_, i) => indexedBody(i, SIZE));
  const store = redisIdempotencyStore({ serverUrl: REDIS_URL, keyPrefix: "pps-bench-idem:" });
  /** A queue, topic and subscription that stay open across rounds; each round sends COUNT and waits for all. */
  const rabbit = async (prefix, options) => {
    const bench = await benchQueue(prefix);
    const topic = openRabbitTopic({ serverUrl: SERVER_URL }, bench.exchange);
    const subscription = openRabbitSubscription({ serverUrl: SERVER_URL }, bench.queue, options);
    await Promise.all([topic.ready(), subscription.ready()]);
    let counter;
    const processing = subscription.process((m) => counter?.add(m.body), { concurrency: 16 });
    processing.catch(() => {});
    const run = async () => {
      counter = tally(COUNT, SIZE);
      const start = performance.now();
      await sendWindowed(COUNT, 1000, (i) => topic.send({ body: BODIES[i] }));
      const end = await withTimeout(counter.allIn, 120_000, `${prefix} receiving ${COUNT}`);
      return COUNT / ((end - start) / 1000);
    };
    run.close = async () => {
      await subscription.shutdown();
      await topic.shutdown();
      await bench.remove();
    };
    return run;
  };
  // With the automatic prefetch (at most 500 unacked), and with prefetch 2000 on both sides: a message stays
  // unacked two store round trips longer (claim, done-mark), which a fixed window of unacked messages feels.
  for (const prefetch of [undefined, 2000]) {
    const extra = prefetch === undefined ? {} : { prefetch };
    // A 2-minute window: with the default day, every run left its 200,000 done-marks on the server for 24 hours
    // (1.1 million had piled up on the shared Redis), and each claim got slower as they did.
    const windowMs = 120_000;
    const withRedis = await rabbit("pps-bench-idem-redis", { idempotency: { store, windowMs }, ...extra });
    const withMemory = await rabbit("pps-bench-idem-memory", {
      idempotency: { store: memoryIdempotencyStore(), windowMs },
      ...extra,
    });
    const without = await rabbit("pps-bench-idem-none", extra);
    try {
      await compare(
        `rabbit:// end to end, 20,000 × 256 B, process() at concurrency 16, ${prefetch ? `prefetch ${prefetch}` : "default prefetch"}`,
        { "with redisIdempotencyStore": 0.8, "with memoryIdempotencyStore": 0.9 },
        7,
        { "with redisIdempotencyStore": withRedis, "with memoryIdempotencyStore": withMemory, without },
      );
    } finally {
      await withRedis.close();
      await withMemory.close();
      await without.close();
    }
  }
  await store.close();
}

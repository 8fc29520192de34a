// Poison messages: the CPU time that one message whose handler always fails costs the client, per
// minute, under the default redelivery policy (capped exponential backoff with jitter) and under
// immediate redelivery (`redelivery: { initialDelayMs: 0, maxDelayMs: 0 }`), for each driver.
//
// For each driver, first an unmeasured warm-up (the driver loaded and the poison path run, then 15 s
// for the process to settle); then for each policy, on a fresh topic and subscription, 10 s after
// opening: the process's CPU time (process.cpuUsage: user + system, all threads) over an idle window,
// with `process` running and no message, then over a window of the same length that starts when
// one poison message has been sent. The message's cost is the difference. Target: under 0.5 s of
// CPU per minute with the default policy. Broker CPU is not counted: the client's is what an
// application pays. With the default policy a window covers the message's first minute or less,
// its most expensive (delays of up to 0.1, 0.2, 0.4 ... s); later, with delays of up to 60 s, it
// comes back about twice a minute.
//
// Run after a build: node benchmarks/poison.mjs [--seconds=N] [words...]
//   --seconds=N  length of each window, default 60 (4 windows: about 5 minutes per driver)
//   words        drivers whose package name contains a word (memory, rabbit, redis, gcp, nats);
//                none, or "poison", for all
// Servers: RABBIT_SERVER_URL, REDIS_SERVER_URL, NATS_SERVER_URL, or the shared local ones; the
// Pub/Sub emulator is started here unless PUBSUB_EMULATOR_HOST is set.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { openSubscription, openTopic } from "@portable-pubsub/core";
import { fmt, withTimeout } from "./lib.mjs";

const TARGET_CPU_S_PER_MIN = 0.5;
const SETTLE_MS = 10_000;
const WARM_UP_MS = 3000;
const QUIET_AFTER_WARM_UP_MS = 15_000;
const GCP_PROJECT = "bench";
const POLICIES = {
  default: undefined,
  immediate: { initialDelayMs: 0, maxDelayMs: 0 },
};

const unique = () => `poison-${randomUUID().slice(0, 8)}`;

/**
 * Per driver, what differs: where a fresh topic and subscription are, with which options, and how
 * they are removed again (given the open topic, whose native client can do it).
 */
const DRIVERS = [
  {
    name: "mem",
    package: "driver-memory",
    fresh() {
      const name = unique();
      return { topic: `mem://${name}`, subscription: `mem://${name}?subscription=s`, options: {}, remove() {} };
    },
  },
  {
    name: "rabbit",
    package: "driver-rabbit",
    fresh() {
      const name = unique();
      return {
        topic: `rabbit://${name}?declare=true`,
        subscription: `rabbit://${name}-q?declare=true&exchange=${name}`,
        options: { serverUrl: process.env.RABBIT_SERVER_URL ?? "amqp://guest:guest@127.0.0.1:5672" },
        async remove(topic) {
          const { delayQueueNames } = await import("@portable-pubsub/driver-rabbit");
          for (const queue of [`${name}-q`, ...delayQueueNames(`${name}-q`)]) await topic.as().deleteQueue(queue);
          await topic.as().deleteExchange(name);
        },
      };
    },
  },
  {
    name: "redis",
    package: "driver-redis",
    fresh() {
      const name = unique();
      return {
        topic: `redisstream://${name}`,
        subscription: `redisstream://${name}?group=g`,
        options: { serverUrl: process.env.REDIS_SERVER_URL ?? "redis://127.0.0.1:6379" },
        remove: (topic) => topic.as().del(name),
      };
    },
  },
  {
    name: "nats",
    package: "driver-nats",
    fresh() {
      const name = unique().replace("-", "_");
      return {
        topic: `nats://${name}?declare=true`,
        subscription: `nats://${name}?consumer=c&declare=true`,
        options: { serverUrl: process.env.NATS_SERVER_URL ?? "nats://127.0.0.1:4222" },
        remove: (topic) => topic.as().request(`$JS.API.STREAM.DELETE.${name}`),
      };
    },
  },
  {
    name: "gcp",
    package: "driver-gcp",
    async fresh() {
      const name = unique();
      // Loaded only when measured: the Pub/Sub client is large, and loading it is not the other drivers' cost.
      const { createPubSub } = await import("@portable-pubsub/driver-gcp");
      const admin = createPubSub(GCP_PROJECT, { apiEndpoint: gcpEndpoint });
      const [topic] = await admin.createTopic(name);
      const [subscription] = await topic.createSubscription(name, { ackDeadlineSeconds: 60 });
      return {
        topic: `gcppubsub://projects/${GCP_PROJECT}/topics/${name}`,
        subscription: `gcppubsub://projects/${GCP_PROJECT}/subscriptions/${name}`,
        options: { apiEndpoint: gcpEndpoint },
        async remove() {
          await subscription.delete();
          await topic.delete();
          await admin.close();
        },
      };
    },
  },
];

const args = process.argv.slice(2);
const secondsAt = args.indexOf("--seconds");
const seconds = Number(
  args.find((a) => a.startsWith("--seconds="))?.slice(10) ?? (secondsAt === -1 ? undefined : args[secondsAt + 1]) ?? 60,
);
const words = args.filter((a, i) => !a.startsWith("--") && args[i - 1] !== "--seconds" && a !== "poison");
if (!(seconds > 0)) throw new Error(`--seconds must be a positive number, got ${seconds}`);
const selected = DRIVERS.filter((d) => words.length === 0 || words.some((w) => d.package.includes(w)));
if (selected.length === 0) {
  console.log(`poison: no driver package's name contains ${words.join(" or ")}; nothing to measure`);
  process.exit(0);
}

let gcpEndpoint = process.env.PUBSUB_EMULATOR_HOST;

/** CPU seconds (user + system) this process used while `ms` passed. */
async function cpuOver(ms) {
  const start = process.cpuUsage();
  await sleep(ms);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

/**
 * One policy on one driver, on a fresh topic and subscription: attempts and CPU per minute with
 * the poison message, and idle. With `windowMs` 0, a warm-up: the poison message fails for a
 * moment, unmeasured, so that the code on its path is compiled before anything is measured (the
 * first window of a process otherwise pays for that, a few tenths of a CPU second per minute).
 */
async function measure(driver, policy, windowMs) {
  const where = await driver.fresh();
  const topic = await openTopic(where.topic, where.options);
  let attempts = 0;
  const poison = new Error("poison: this handler always fails");
  try {
    const sub = await openSubscription(where.subscription, { ...where.options, redelivery: policy });
    const processing = sub.process(() => {
      attempts++;
      throw poison;
    });
    try {
      // Connections up, and past what a fresh subscription does at first (a NATS one costs up to 0.5 s/min
      // more in its first ten seconds than after).
      await sleep(SETTLE_MS);
      if (windowMs === 0) {
        await topic.send({ body: "poison" });
        await sleep(WARM_UP_MS);
        return undefined;
      }
      const idle = await cpuOver(windowMs);
      await topic.send({ body: "poison" });
      const busy = await cpuOver(windowMs);
      const perMinute = 60_000 / windowMs;
      return { attempts: attempts * perMinute, cpu: (busy - idle) * perMinute, idle: idle * perMinute };
    } finally {
      await withTimeout(sub.shutdown(), 30_000, `${driver.name}: subscription shutdown`);
      await processing;
    }
  } finally {
    await where.remove(topic);
    await topic.shutdown();
  }
}

const row = (driver, policy, r) =>
  `${driver.padEnd(7)}| ${policy.padEnd(10)}| ${fmt(Math.round(r.attempts)).padStart(12)} | ${r.cpu.toFixed(3).padStart(9)} | ${r.idle.toFixed(3).padStart(14)}`;

let emulator;
let failed = 0;
try {
  if (selected.some((d) => d.name === "gcp") && gcpEndpoint === undefined) {
    const { startEmulator } = await import("../packages/driver-gcp/test/launch-emulator.mjs");
    emulator = await startEmulator();
    gcpEndpoint = emulator.address;
  }
  console.log(
    `poison message: one message whose handler always fails, ${seconds} s windows, figures per minute` +
      "\n(CPU s/min: the client process's CPU with the message, minus an idle window on the same subscription)",
  );
  console.log("driver | policy    | attempts/min | CPU s/min | idle CPU s/min");
  for (const driver of selected) {
    try {
      await measure(driver, POLICIES.default, 0);
      // Loading a driver and running it the first time leave work that V8 does over the next ten
      // seconds or so (collection, compilation on its helper threads); billed to the first idle
      // window, it made that window cost up to 0.4 s/min more than the next.
      await sleep(QUIET_AFTER_WARM_UP_MS);
      const results = {};
      for (const [policy, redelivery] of Object.entries(POLICIES)) {
        results[policy] = await measure(driver, redelivery, seconds * 1000);
        console.log(row(driver.name, policy, results[policy]));
      }
      const { default: slow, immediate: fast } = results;
      const ratio = (a, b) => (b > 0 ? `${fmt(Math.round(a / b))}×` : "n/a");
      const verdict = slow.cpu < TARGET_CPU_S_PER_MIN ? "under" : "OVER";
      console.log(
        `       | immediate / default: attempts ${ratio(fast.attempts, slow.attempts)}, CPU ${ratio(fast.cpu, slow.cpu)};` +
          ` default ${slow.cpu.toFixed(3)} s/min, ${verdict} the ${TARGET_CPU_S_PER_MIN} s/min target`,
      );
    } catch (err) {
      failed++;
      console.log(`${driver.name.padEnd(7)}| failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
} finally {
  await emulator?.stop();
}
process.exit(failed === 0 ? 0 : 1);

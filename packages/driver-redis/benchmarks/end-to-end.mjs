// redisstream:// end to end (send N, receive and ack N through a consumer group) against raw
// ioredis doing the same work in the same run: XADD pipelines, XREADGROUP COUNT … BLOCK on a
// connection of its own, one XACK per read. Prints msgs/s and the ratio ours / raw.
// Run after a build: node packages/driver-redis/benchmarks/end-to-end.mjs [counts...]
// The server is REDIS_SERVER_URL, or redis://127.0.0.1:6379.
import { randomUUID } from "node:crypto";
import { commandClientOptions, openRedisSubscription, openRedisTopic } from "@portable-pubsub/driver-redis";
import { Redis } from "ioredis";
import { indexedBody, median, report, sendWindowed, tally, withTimeout } from "../../../benchmarks/lib.mjs";

const SERVER = process.env.REDIS_SERVER_URL ?? "redis://127.0.0.1:6379";
const counts = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const COUNTS = counts.length > 0 ? counts : [20_000, 100_000];
const RUNS = 5;
const BODY_BYTES = 100;
const IN_FLIGHT = 2000; // messages sent but not confirmed at once, for both contenders
const PIPELINE = 500; // raw: XADDs per pipeline (so IN_FLIGHT / PIPELINE pipelines in flight)
const READ_COUNT = 1000; // entries per XREADGROUP, for both (ours: maxReceiveBatchSize)
const TIMEOUT_MS = 120_000;

const admin = client();

function client() {
  const c = new Redis(SERVER, commandClientOptions(5000));
  c.on("error", () => {});
  return c;
}

async function freshStream() {
  const stream = `bench-${randomUUID().slice(0, 8)}`;
  const group = "bench";
  await admin.xgroup("CREATE", stream, group, "$", "MKSTREAM");
  return { stream, group, cleanup: () => admin.del(stream) };
}

/** Both contenders start the clock with their connections up. */
async function ready(...clients) {
  await Promise.all(clients.map((c) => c.ping()));
}

/** Ours: a portable Topic and Subscription over the driver; `process` acks each message. */
async function ours(n) {
  const { stream, group, cleanup } = await freshStream();
  const producer = client();
  const consumer = client();
  const reader = client();
  await ready(producer, consumer, reader);
  const topic = openRedisTopic(producer, stream);
  const subscription = await openRedisSubscription(consumer, stream, group, {
    create: false,
    maxReceiveBatchSize: READ_COUNT,
    reader,
  });
  const got = tally(n, BODY_BYTES);
  const cpu = process.cpuUsage();
  const start = performance.now();
  const processing = subscription.process((message) => got.add(message.body), { concurrency: 16 });
  await sendWindowed(n, IN_FLIGHT, (i) => topic.send({ body: indexedBody(i, BODY_BYTES) }));
  const end = await withTimeout(got.allIn, TIMEOUT_MS, "ours");
  const used = process.cpuUsage(cpu);
  await subscription.shutdown();
  await processing;
  await topic.shutdown();
  for (const c of [producer, consumer, reader]) c.disconnect();
  await cleanup();
  return { ms: end - start, cpuUs: used.user + used.system };
}

/**
 * Raw ioredis: pipelined XADDs; a loop of blocking XREADGROUP COUNT on its own connection, XACK per read.
 * With `withId`, each XADD carries a `message-id` field too.
 */
async function raw(n, withId = false) {
  const { stream, group, cleanup } = await freshStream();
  const producer = client();
  const acker = client();
  const reader = client();
  await ready(producer, acker, reader);
  const got = tally(n, BODY_BYTES);
  const cpu = process.cpuUsage();
  const start = performance.now();
  let reading = true;
  const readLoop = (async () => {
    while (reading) {
      const reply = await reader.xreadgroupBuffer(
        "GROUP",
        group,
        "raw",
        "COUNT",
        READ_COUNT,
        "BLOCK",
        1000,
        "STREAMS",
        stream,
        ">",
      );
      if (!reply) continue;
      const ids = [];
      for (const [id, fields] of reply[0][1]) {
        ids.push(id);
        for (let f = 0; f < fields.length; f += 2) {
          if (fields[f].toString() === "body") got.add(fields[f + 1]);
        }
      }
      acker.xack(stream, group, ...ids).catch(() => {});
    }
  })();
  const inFlight = new Set();
  for (let first = 0; first < n; first += PIPELINE) {
    const pipeline = producer.pipeline();
    for (let i = first; i < Math.min(n, first + PIPELINE); i++)
      if (withId) pipeline.xadd(stream, "*", "message-id", randomUUID(), "body", indexedBody(i, BODY_BYTES));
      else pipeline.xadd(stream, "*", "body", indexedBody(i, BODY_BYTES));
    const p = pipeline.exec().then(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= IN_FLIGHT / PIPELINE) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const end = await withTimeout(got.allIn, TIMEOUT_MS, "raw");
  const used = process.cpuUsage(cpu);
  reading = false;
  await readLoop;
  for (const c of [producer, acker, reader]) c.disconnect();
  await cleanup();
  return { ms: end - start, cpuUs: used.user + used.system };
}

console.log(`redisstream end to end against raw ioredis, ${BODY_BYTES}-byte bodies, ${RUNS} runs each, median`);
const contenders = { ours: (n) => ours(n), raw: (n) => raw(n), "raw+id": (n) => raw(n, true) };
for (let i = 0; i < 2; i++) {
  // Warm-up: JIT and server, for all.
  for (const run of Object.values(contenders)) await run(20_000);
}
const runs = [];
for (const n of COUNTS) {
  const results = { ours: [], raw: [], "raw+id": [] };
  const names = Object.keys(contenders);
  for (let r = 0; r < RUNS; r++) {
    // Rotate who goes first, so that none always runs on a warmer server.
    for (let k = 0; k < names.length; k++) {
      const name = names[(r + k) % names.length];
      results[name].push(await contenders[name](n));
    }
  }
  const ms = Object.fromEntries(names.map((name) => [name, median(results[name].map((x) => x.ms))]));
  const cpuPerMsg = (name) => (median(results[name].map((x) => x.cpuUs)) / n).toFixed(1);
  const rate = (name) => Math.round((n / ms[name]) * 1000);
  runs.push({
    messages: n,
    rates: { "redisstream://": rate("ours"), ioredis: rate("raw"), "ioredis + message-id": rate("raw+id") },
  });
  const line = (name) =>
    `${rate(name).toLocaleString("en-US")} msgs/s (${ms[name].toFixed(0)} ms, ${cpuPerMsg(name)} µs CPU/msg)`;
  console.log(
    `${n.toLocaleString("en-US")} msgs: ours ${line("ours")}, raw ioredis ${line("raw")}, raw with a message-id field ${line("raw+id")}; ` +
      `ratio ours/raw ${(ms.raw / ms.ours).toFixed(2)}, ours/raw with id ${(ms["raw+id"] / ms.ours).toFixed(2)}`,
  );
}
report("end-to-end-redis", { ours: "redisstream://", runs });
admin.disconnect();

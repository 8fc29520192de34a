// The outbox relay to rabbit://: throughput (N rows committed beforehand, then one relay sends them all; timed
// from its start to the last message's arrival in a queue bound to the exchange), and commit-to-send latency
// (single-message transactions committed one at a time while the relay runs; from COMMIT's return to the
// message's arrival at a consumer, so an upper bound of commit to send). Prints msgs/s against the ~400 msg/s
// published for MassTransit's outbox, and p50 / p99 in ms.
// Run after a build: node packages/driver-postgres/benchmarks/outbox.mjs [rows] [latency samples]
// Servers: PG_TEST_URL (default postgres://postgres@127.0.0.1:5432/test), RABBIT_SERVER_URL (default
// amqp://guest:guest@127.0.0.1:5672). A schema, an exchange and a queue are made for the run and removed.
import { randomUUID } from "node:crypto";
import { openSubscription, openTopic } from "@portable-pubsub/core";
import { migrate, outbox } from "@portable-pubsub/driver-postgres";
import { delayQueueNames } from "@portable-pubsub/driver-rabbit";
import pg from "pg";
import { fmt, indexedBody, rate, tally, withTimeout } from "../../../benchmarks/lib.mjs";

const SERVER = process.env.PG_TEST_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const RABBIT = process.env.RABBIT_SERVER_URL ?? "amqp://guest:guest@127.0.0.1:5672";
const [rowsArg, samplesArg] = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const ROWS = rowsArg ?? 50_000;
const SAMPLES = samplesArg ?? 500;
const BODY_BYTES = 100;
const MASSTRANSIT = 400; // msg/s, MassTransit#5114
const TIMEOUT_MS = 300_000;

const schema = `pps_bench_outbox_${randomUUID().slice(0, 8)}`;
const exchange = `pps-bench-outbox-${randomUUID().slice(0, 8)}`;
const queue = `${exchange}-q`;
const pool = new pg.Pool({ connectionString: SERVER, max: 4 });
pool.on("error", () => {});
await migrate(pool, schema);
const url = `rabbit://${exchange}`;
const sub = await openSubscription(`rabbit://${queue}?declare=true&exchange=${exchange}`, {
  serverUrl: RABBIT,
  maxReceiveBatchSize: 1000,
});
const relayOptions = {
  serverUrl: SERVER,
  schema,
  batchSize: 1000,
  topicOptions: (u) => (u.startsWith("rabbit:") ? { serverUrl: RABBIT } : {}),
};

/** Commits `bodies` for `to` (default the rabbit:// exchange) in one transaction. */
async function commit(bodies, notify = true, to = url) {
  const tx = await pool.connect();
  try {
    await tx.query("BEGIN");
    for (const body of bodies) await outbox.send(tx, to, { body }, { schema, notify });
    await tx.query("COMMIT");
  } finally {
    tx.release();
  }
}

/** Commits ROWS rows for `to`, 1,000 a transaction, without NOTIFY: they wait for a relay to start. */
async function fill(to) {
  for (let from = 0; from < ROWS; from += 1000) {
    await commit(
      Array.from({ length: Math.min(1000, ROWS - from) }, (_, k) => indexedBody(from + k, BODY_BYTES)),
      false,
      to,
    );
  }
}

/** How fast one relay empties a table of ROWS rows for `to`; resolves with ms, once every row is deleted. */
async function drain(to, got) {
  await fill(to);
  const start = performance.now();
  const relay = await outbox.startRelay(relayOptions);
  while ((await relay.backlog()).rows > 0) await new Promise((r) => setTimeout(r, 10));
  const ms = performance.now() - start;
  await withTimeout(got.allIn, TIMEOUT_MS, `relay to ${to}`);
  await relay.shutdown();
  return ms;
}

try {
  // The ceiling: the same messages sent by a plain rabbit:// Topic, 1,000 at a time as the relay sends them.
  const ceilingTopic = await openTopic(url, { serverUrl: RABBIT });
  const ceilingGot = tally(ROWS, BODY_BYTES);
  const ceilingProcessing = sub.process((m) => ceilingGot.add(m.body), { concurrency: 64 });
  const ceilingStart = performance.now();
  for (let from = 0; from < ROWS; from += 1000) {
    const n = Math.min(1000, ROWS - from);
    await Promise.all(
      Array.from({ length: n }, (_, k) => ceilingTopic.send({ body: indexedBody(from + k, BODY_BYTES) })),
    );
  }
  const ceiling = rate(ROWS, performance.now() - ceilingStart);
  await withTimeout(ceilingGot.allIn, TIMEOUT_MS, "ceiling");
  await ceilingTopic.shutdown();
  await sub.shutdown();
  await ceilingProcessing;

  // The relay alone: to mem://, in this process, where sending costs next to nothing.
  const memTopic = await openTopic("mem://bench-outbox");
  const memSub = await openSubscription("mem://bench-outbox?subscription=s");
  const memGot = tally(ROWS, BODY_BYTES);
  const memProcessing = memSub.process((m) => memGot.add(m.body));
  const memRate = rate(ROWS, await drain("mem://bench-outbox", memGot));
  await memSub.shutdown();
  await memProcessing;
  await memTopic.shutdown();

  // Throughput to rabbit://: the rows wait in the table first, so that only the relay is timed.
  const relaySub = await openSubscription(`rabbit://${queue}`, { serverUrl: RABBIT, maxReceiveBatchSize: 1000 });
  await fill(url);
  const got = tally(ROWS, BODY_BYTES);
  const processing = relaySub.process((m) => got.add(m.body), { concurrency: 64 });
  const start = performance.now();
  const relay = await outbox.startRelay(relayOptions);
  // When the relay has sent and deleted every row (confirmed by the broker), whatever the consumer's pace.
  let drained = 0;
  while ((await relay.backlog()).rows > 0) await new Promise((r) => setTimeout(r, 10));
  drained = performance.now();
  const end = await withTimeout(got.allIn, TIMEOUT_MS, "relay throughput");
  const throughput = rate(ROWS, drained - start);
  console.log(`outbox relay to rabbit://, ${BODY_BYTES}-byte bodies, batches of ${relayOptions.batchSize}`);
  console.log(
    `  throughput: ${fmt(ROWS)} committed rows sent (confirmed) and deleted in ${(drained - start).toFixed(0)} ms = ${fmt(throughput)} msgs/s` +
      ` (${(throughput / MASSTRANSIT).toFixed(1)}× MassTransit's published ~${MASSTRANSIT} msg/s; goal 10,000);` +
      ` all received by a consumer after ${(end - start).toFixed(0)} ms`,
  );
  console.log(
    `  ceiling: a plain rabbit:// Topic sends the same messages, 1,000 at a time, at ${fmt(ceiling)} msgs/s: relay / Topic = ${(throughput / ceiling).toFixed(2)}×`,
  );
  console.log(`  the relay alone, to mem:// in its process: ${fmt(memRate)} msgs/s`);

  // Latency: one message per transaction, the next committed once the previous arrived, so none queues.
  await relaySub.shutdown();
  await processing;
  const latencySub = await openSubscription(`rabbit://${queue}`, { serverUrl: RABBIT });
  let arrived;
  const waiting = latencySub.process((m) => arrived?.(m));
  const latencies = [];
  for (let i = 0; i < SAMPLES; i++) {
    const message = new Promise((resolve) => {
      arrived = resolve;
    });
    await commit([`latency ${i}`]);
    const committed = performance.now();
    await withTimeout(message, 10_000, `latency sample ${i}`);
    latencies.push(performance.now() - committed);
  }
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))].toFixed(1);
  console.log(
    `  commit to send (to a consumer's arrival), ${SAMPLES} single-message transactions: p50 ${at(0.5)} ms, p99 ${at(0.99)} ms (goal: p50 under 20 ms)`,
  );
  await relay.shutdown();
  await latencySub.shutdown();
  await waiting;
} finally {
  const topic = await openTopic(url, { serverUrl: RABBIT });
  const channel = topic.as();
  for (const name of [queue, ...delayQueueNames(queue)]) await channel.deleteQueue(name).catch(() => {});
  await channel.deleteExchange(exchange).catch(() => {});
  await topic.shutdown();
  await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await pool.end();
}

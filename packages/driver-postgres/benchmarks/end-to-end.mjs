// pg:// end to end (send N, receive and ack N) against pg-boss 12 and graphile-worker 0.18 doing the same work
// in the same run, on the same database: each contender inserts in batches and completes every job.
// pg-boss is tuned, not left at its defaults: batches of 100, burstWhenBatchFull, 2 workers (localConcurrency),
// a queue with notify. graphile-worker runs 10 concurrent jobs (its documented default for a pool of 10).
// Prints msgs/s (median of runs) and the ratios pg:// / each.
// Run after a build: node packages/driver-postgres/benchmarks/end-to-end.mjs [counts...]
// The server is PG_TEST_URL, or postgres://postgres@127.0.0.1:5432/test; each contender gets a schema of its
// own for the run, dropped afterwards.
import { randomUUID } from "node:crypto";
import { openSubscription, openTopic } from "@portable-pubsub/core";
import "@portable-pubsub/driver-postgres";
import { makeWorkerUtils, run } from "graphile-worker";
import pg from "pg";
import { PgBoss } from "pg-boss";
import { fmt, indexedBody, median, rate, report, sendWindowed, tally, withTimeout } from "../../../benchmarks/lib.mjs";

const SERVER = process.env.PG_TEST_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const counts = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const COUNTS = counts.length > 0 ? counts : [20_000];
const RUNS = 3;
const BODY_BYTES = 100;
const INSERT_BATCH = 1000; // rows per insert statement, for every contender
const IN_FLIGHT = 4; // insert statements in flight at once, for every contender
const TIMEOUT_MS = 300_000;

const admin = new pg.Pool({ connectionString: SERVER, max: 2 });
admin.on("error", () => {});
const schemaName = (who) => `pps_bench_${who}_${randomUUID().slice(0, 8)}`;
const drop = (schema) => admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);

/** Sends [0, n) in chunks of INSERT_BATCH, IN_FLIGHT chunks at once. */
async function insertChunks(n, insert) {
  const chunks = Math.ceil(n / INSERT_BATCH);
  await sendWindowed(chunks, IN_FLIGHT, (c) => {
    const from = c * INSERT_BATCH;
    return insert(Array.from({ length: Math.min(INSERT_BATCH, n - from) }, (_, k) => from + k));
  });
}

/** Ours: a pg:// Topic (core batches sends into one statement each) and a Subscription whose `process` acks. */
async function ours(n) {
  const schema = schemaName("ours");
  const options = { serverUrl: SERVER, batching: { maxBatchSize: INSERT_BATCH, maxConcurrentBatches: IN_FLIGHT } };
  const topic = await openTopic(`pg://bench?declare=true&schema=${schema}`, options);
  const sub = await openSubscription(`pg://bench?subscription=b&declare=true&schema=${schema}`, {
    serverUrl: SERVER,
    maxReceiveBatchSize: 1000,
  });
  const got = tally(n, BODY_BYTES);
  const start = performance.now();
  const processing = sub.process((m) => got.add(m.body), { concurrency: 64 });
  await sendWindowed(n, IN_FLIGHT * INSERT_BATCH, (i) => topic.send({ body: indexedBody(i, BODY_BYTES) }));
  const end = await withTimeout(got.allIn, TIMEOUT_MS, "pg://");
  await sub.shutdown();
  await processing;
  await topic.shutdown();
  await drop(schema);
  return end - start;
}

/** pg-boss 12, tuned: insert() in batches, work() with batchSize 100, burstWhenBatchFull, localConcurrency 2. */
async function pgBoss(n) {
  const schema = schemaName("pgboss");
  const boss = new PgBoss({ connectionString: SERVER, schema, max: 10 });
  boss.on("error", () => {});
  await boss.start();
  await boss.createQueue("bench", { notify: true });
  const got = tally(n, BODY_BYTES);
  const start = performance.now();
  await boss.work(
    "bench",
    { batchSize: 100, localConcurrency: 2, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 },
    async (jobs) => {
      for (const job of jobs) got.add(indexedBody(job.data.i, BODY_BYTES));
    },
  );
  await insertChunks(n, (is) =>
    boss.insert(
      "bench",
      is.map((i) => ({ data: { i, body: "x".repeat(BODY_BYTES) } })),
    ),
  );
  const end = await withTimeout(got.allIn, TIMEOUT_MS, "pg-boss");
  await boss.stop({ graceful: true, timeout: 10_000 });
  await drop(schema);
  return end - start;
}

/** graphile-worker 0.18: addJobs in batches, a runner with concurrency 10. */
async function graphileWorker(n) {
  const schema = schemaName("gw");
  const utils = await makeWorkerUtils({ connectionString: SERVER, schema });
  await utils.migrate();
  const got = tally(n, BODY_BYTES);
  const start = performance.now();
  const runner = await run({
    connectionString: SERVER,
    schema,
    concurrency: 10,
    noHandleSignals: true,
    pollInterval: 500,
    logger: silentLogger(),
    taskList: {
      bench: async (payload) => {
        got.add(indexedBody(payload.i, BODY_BYTES));
      },
    },
  });
  await insertChunks(n, (is) =>
    utils.addJobs(is.map((i) => ({ identifier: "bench", payload: { i, body: "x".repeat(BODY_BYTES) } }))),
  );
  const end = await withTimeout(got.allIn, TIMEOUT_MS, "graphile-worker");
  await runner.stop();
  await utils.release();
  await drop(schema);
  return end - start;
}

/** graphile-worker logs every job at info; a benchmark prints only its results. */
function silentLogger() {
  const logger = { scope: () => logger, debug() {}, info() {}, warn() {}, error() {} };
  return new Proxy(logger, { get: (t, k) => t[k] ?? (() => logger) });
}

const CONTENDERS = [
  ["pg://", ours],
  ["pg-boss 12 (tuned)", pgBoss],
  ["graphile-worker 0.18", graphileWorker],
];

console.log(`pg:// end to end against pg-boss and graphile-worker, ${BODY_BYTES}-byte bodies, median of ${RUNS}`);
const runs = [];
for (const n of COUNTS) {
  const rates = new Map();
  for (const [name] of CONTENDERS) rates.set(name, []);
  for (let r = 0; r < RUNS; r++) {
    // Interleaved, so that a slow moment of the machine falls on every contender alike.
    for (const [name, fn] of CONTENDERS) rates.get(name).push(rate(n, await fn(n)));
  }
  const ourRate = median(rates.get("pg://"));
  runs.push({ messages: n, rates: Object.fromEntries([...rates].map(([name, rs]) => [name, median(rs)])) });
  for (const [name] of CONTENDERS) {
    const m = median(rates.get(name));
    const ratio = name === "pg://" ? "" : `  pg:// / ${name} = ${(ourRate / m).toFixed(2)}×`;
    console.log(`  ${fmt(n)} messages  ${name.padEnd(22)} ${fmt(m).padStart(8)} msgs/s${ratio}`);
  }
}
report("end-to-end-postgres", { ours: "pg://", runs });
await admin.end();

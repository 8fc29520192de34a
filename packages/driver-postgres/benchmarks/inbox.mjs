// The PostgreSQL inbox's cost, end to end on rabbit://: N messages waiting in a queue are consumed by
// `process(handler, { concurrency: 16 })`, each handler inserting one row into PostgreSQL; timed from the start of
// `process` to the N-th distinct message's handler.
//   at least once  no idempotency; the handler inserts through the pool (autocommit): a crash may write a row twice
//   pg inbox       idempotency: { store: pgIdempotencyStore() }; the handler inserts through ctx.tx, in the
//                  transaction that also writes the message's done-mark: exactly one row per message
// Rounds alternate who goes first; the ratio (inbox / at least once) is the median of per-round ratios.
// Run after a build: node packages/driver-postgres/benchmarks/inbox.mjs [count] [rounds]
// Servers: PG_TEST_URL (default postgres://postgres@127.0.0.1:5432/test), RABBIT_SERVER_URL (default
// amqp://guest:guest@127.0.0.1:5672). A schema, exchanges and queues are made for the run and removed.
import { randomUUID } from "node:crypto";
import { openSubscription, openTopic } from "@portable-pubsub/core";
import { pgIdempotencyStore } from "@portable-pubsub/driver-postgres";
import { delayQueueNames } from "@portable-pubsub/driver-rabbit";
import pg from "pg";
import { fmt, indexedBody, median, rate, sendWindowed, tally, withTimeout } from "../../../benchmarks/lib.mjs";

const SERVER = process.env.PG_TEST_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const RABBIT = process.env.RABBIT_SERVER_URL ?? "amqp://guest:guest@127.0.0.1:5672";
const [countArg, roundsArg] = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const COUNT = countArg ?? 5000;
const ROUNDS = roundsArg ?? 3;
const CONCURRENCY = 16;
const SIZE = 100;
const TIMEOUT_MS = 300_000;

const schema = `pps_bench_inbox_${randomUUID().slice(0, 8)}`;
const pool = new pg.Pool({ connectionString: SERVER, max: CONCURRENCY + 2 });
pool.on("error", () => {});
await pool.query(`CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.effects (body bytea NOT NULL)`);
const store = pgIdempotencyStore({ serverUrl: SERVER, schema, poolSize: CONCURRENCY + 2 });
const insert = `INSERT INTO ${schema}.effects (body) VALUES ($1)`;
const queues = [];

/** A fresh exchange and queue holding COUNT messages. */
async function filledQueue() {
  const exchange = `pps-bench-inbox-${randomUUID().slice(0, 8)}`;
  const queue = `${exchange}-q`;
  queues.push({ exchange, queue });
  const declared = await openSubscription(`rabbit://${queue}?declare=true&exchange=${exchange}`, { serverUrl: RABBIT });
  await declared.shutdown();
  const topic = await openTopic(`rabbit://${exchange}`, { serverUrl: RABBIT });
  await sendWindowed(COUNT, 1000, (i) => topic.send({ body: indexedBody(i, SIZE) }));
  await topic.shutdown();
  return queue;
}

const contenders = {
  "at least once": {
    options: {},
    handler: (counter) => async (message) => {
      await pool.query(insert, [message.body]);
      counter.add(message.body);
    },
  },
  "pg inbox": {
    options: { idempotency: { store } },
    handler: (counter) => async (message, ctx) => {
      await ctx.tx.query(insert, [message.body]);
      counter.add(message.body);
    },
  },
};

/** Msgs/s of one contender consuming a queue of COUNT messages. */
async function consume(name) {
  const queue = await filledQueue();
  const { options, handler } = contenders[name];
  const sub = await openSubscription(`rabbit://${queue}`, { serverUrl: RABBIT, ...options });
  const counter = tally(COUNT, SIZE);
  const started = performance.now();
  const processing = sub.process(handler(counter), { concurrency: CONCURRENCY });
  const ended = await withTimeout(counter.allIn, TIMEOUT_MS, name);
  await sub.shutdown();
  await processing;
  return rate(COUNT, ended - started);
}

const rates = { "at least once": [], "pg inbox": [] };
const ratios = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? ["at least once", "pg inbox"] : ["pg inbox", "at least once"];
    const got = {};
    for (const name of order) got[name] = await consume(name);
    for (const name of order) rates[name].push(got[name]);
    ratios.push(got["pg inbox"] / got["at least once"]);
  }
  const rows = await pool.query(`SELECT count(*)::int AS n FROM ${schema}.idempotency WHERE state = 'done'`);
  console.log(
    `rabbit:// consumed by process (concurrency ${CONCURRENCY}), one PostgreSQL insert per message, ${fmt(COUNT)} messages, ${ROUNDS} rounds`,
  );
  for (const [name, list] of Object.entries(rates)) {
    console.log(`  ${name.padEnd(14)} ${fmt(median(list))} msgs/s (rounds: ${list.map(fmt).join(", ")})`);
  }
  console.log(
    `  pg inbox / at least once: ${median(ratios).toFixed(2)}x (${fmt(rows.rows[0].n)} ids done in the inbox's table)`,
  );
} finally {
  await store.close();
  const topic = await openTopic("rabbit://amq.fanout", { serverUrl: RABBIT });
  const channel = topic.as();
  for (const { exchange, queue } of queues) {
    for (const name of [queue, ...delayQueueNames(queue)]) await channel.deleteQueue(name).catch(() => {});
    await channel.deleteExchange(exchange).catch(() => {});
  }
  await topic.shutdown();
  await pool.query(`DROP SCHEMA ${schema} CASCADE`);
  await pool.end();
}

// Dead tuples under a long transaction: a transaction is held open (REPEATABLE READ, with an xid) for the whole
// run, which keeps VACUUM from removing any row deleted meanwhile, while pg:// sends and receives continuously
// and the outbox relay sends what outbox.send commits (to mem://). Every tenth of the run it prints, read from
// pg_stat_user_tables, the dead and live tuples of the driver's tables and the pg:// rate in that interval, so
// the cost of the held transaction shows: dead tuples pile up, and whether the rate falls with them.
// Run after a build: node packages/driver-postgres/benchmarks/dead-tuples.mjs [--seconds=300] [--rate=1000]
// (`pnpm bench pg --seconds=60` passes the option through PUBSUB_BENCH_OPTIONS). Default 5 minutes.
// The server is PG_TEST_URL, or postgres://postgres@127.0.0.1:5432/test; the run's schema is dropped at the end.
import { randomUUID } from "node:crypto";
import { openSubscription, openTopic } from "@portable-pubsub/core";
import { migrate, outbox } from "@portable-pubsub/driver-postgres";
import pg from "pg";
import { fmt } from "../../../benchmarks/lib.mjs";

const SERVER = process.env.PG_TEST_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const args = [...process.argv.slice(2), ...(process.env.PUBSUB_BENCH_OPTIONS ?? "").split(" ")];
const secondsArg = args.find((a) => a.startsWith("--seconds="));
const SECONDS = secondsArg ? Number(secondsArg.slice("--seconds=".length)) : 300;
const SAMPLES = 10;
const rateArg = args.find((a) => a.startsWith("--rate="));
const RATE = rateArg ? Number(rateArg.slice("--rate=".length)) : 1000;

const schema = `pps_bench_dead_${randomUUID().slice(0, 8)}`;
const pool = new pg.Pool({ connectionString: SERVER, max: 4 });
pool.on("error", () => {});
await migrate(pool, schema);

// The long transaction: an xid of its own and a snapshot, as a report query or a forgotten BEGIN would hold.
const held = new pg.Client({ connectionString: SERVER, application_name: "portable-pubsub bench held transaction" });
await held.connect();
await held.query("BEGIN ISOLATION LEVEL REPEATABLE READ");
await held.query("SELECT txid_current()");
await held.query(`SELECT count(*) FROM ${schema}.messages`);

const topic = await openTopic(`pg://dead?declare=true&schema=${schema}`, { serverUrl: SERVER });
const sub = await openSubscription(`pg://dead?subscription=s&declare=true&schema=${schema}`, {
  serverUrl: SERVER,
  maxReceiveBatchSize: 500,
});
const memTopic = await openTopic("mem://dead-outbox");
const memSub = await openSubscription("mem://dead-outbox?subscription=s");
const relay = await outbox.startRelay({ serverUrl: SERVER, schema, batchSize: 500 });

let received = 0;
let relayed = 0;
const processing = sub.process(() => {
  received++;
});
const relaying = memSub.process(() => {
  relayed++;
});
// The load goes on a second past the last sample, so that the last interval is measured under full load too.
const stopAt = Date.now() + SECONDS * 1000 + 1000;

/** pg:// load: RATE messages a second, paced every 10 ms, so that a receiver that keeps up holds no backlog. */
async function sendLoad() {
  const start = performance.now();
  let sent = 0;
  const pending = new Set();
  while (Date.now() < stopAt) {
    const due = Math.floor(((performance.now() - start) / 1000) * RATE);
    for (; sent < due; sent++) {
      const p = topic.send({ body: "x".repeat(100) }).finally(() => pending.delete(p));
      pending.add(p);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  await Promise.allSettled(pending);
}

/** Outbox load: transactions of 50 messages, one after another, until the end. */
async function outboxLoad() {
  while (Date.now() < stopAt) {
    const tx = await pool.connect();
    try {
      await tx.query("BEGIN");
      for (let i = 0; i < 50; i++) await outbox.send(tx, "mem://dead-outbox", { body: "y".repeat(100) }, { schema });
      await tx.query("COMMIT");
    } finally {
      tx.release();
    }
  }
}

async function stats() {
  const { rows } = await pool.query(
    "SELECT relname, n_dead_tup::int AS dead, n_live_tup::int AS live FROM pg_stat_user_tables WHERE schemaname = $1 AND relname IN ('messages', 'deliveries', 'outbox') ORDER BY relname",
    [schema],
  );
  return Object.fromEntries(rows.map((r) => [r.relname, r]));
}

console.log(
  `dead tuples with a transaction held open for the whole ${SECONDS} s run (pg:// ${RATE} msgs/s sent and received, outbox relay)`,
);
console.log(
  "      t   pg:// msgs/s  outbox msgs/s   dead: deliveries  messages    outbox   (live: deliveries messages outbox)",
);
const loads = Promise.all([sendLoad(), outboxLoad()]);
let last = { received: 0, relayed: 0, at: performance.now() };
let maxDead = 0;
const rates = [];
for (let s = 1; s <= SAMPLES; s++) {
  await new Promise((r) => setTimeout(r, (SECONDS * 1000) / SAMPLES));
  const now = performance.now();
  const secs = (now - last.at) / 1000;
  const pgRate = Math.round((received - last.received) / secs);
  const outRate = Math.round((relayed - last.relayed) / secs);
  rates.push(pgRate);
  last = { received, relayed, at: now };
  const t = await stats();
  const dead = (name) => t[name]?.dead ?? 0;
  const live = (name) => t[name]?.live ?? 0;
  maxDead = Math.max(maxDead, dead("deliveries") + dead("messages") + dead("outbox"));
  console.log(
    `${String(Math.round((s * SECONDS) / SAMPLES)).padStart(6)} s ${fmt(pgRate).padStart(12)} ${fmt(outRate).padStart(14)}` +
      `   ${fmt(dead("deliveries")).padStart(16)} ${fmt(dead("messages")).padStart(9)} ${fmt(dead("outbox")).padStart(9)}` +
      `   (${fmt(live("deliveries"))} ${fmt(live("messages"))} ${fmt(live("outbox"))})`,
  );
}
await loads;
await held.query("COMMIT");
await held.end();
const first = rates[0] ?? 0;
const lastRate = rates[rates.length - 1] ?? 0;
console.log(
  `  most dead tuples at once: ${fmt(maxDead)}; pg:// rate last interval / first = ${first > 0 ? (lastRate / first).toFixed(2) : "n/a"}×` +
    ` (received ${fmt(received)}, relayed ${fmt(relayed)})`,
);
await relay.shutdown();
await sub.shutdown();
await processing;
await memSub.shutdown();
await relaying;
await memTopic.shutdown();
await topic.shutdown();
await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
await pool.end();

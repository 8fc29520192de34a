// The README's demo: a few hundred messages through the in-process mem:// broker,
// with two competing workers, an audit subscription, a nack and a clean shutdown.
// Run it with `pnpm demo`.
import { errorCode, openSubscription, openTopic } from "@portable-pubsub/core";

const TOTAL = 300;
const topic = await openTopic("mem://orders");
// Two consumers of one named subscription compete for its messages...
const workerA = await openSubscription("mem://orders?subscription=billing");
const workerB = await openSubscription("mem://orders?subscription=billing");
// ...while a second subscription receives every message.
const audit = await openSubscription("mem://orders?subscription=audit");

const handledBy = { A: 0, B: 0 };
const seen = new Set();
let nacked = 0;
let audited = 0;
let allDone;
const finished = new Promise((resolve) => {
  allDone = resolve;
});
const check = () => {
  if (seen.size === TOTAL && audited === TOTAL) allDone();
};
const worker = (name) => async (message) => {
  // Fail every 50th order once: the message is nacked and delivered again at once.
  if (Number(message.metadata.seq) % 50 === 0 && message.deliveryAttempt === 1) {
    nacked++;
    throw new Error("simulated failure");
  }
  handledBy[name]++;
  seen.add(message.text());
  check();
};

const started = performance.now();
const processing = [
  workerA.process(worker("A"), { concurrency: 4 }),
  workerB.process(worker("B"), { concurrency: 4 }),
  audit.process(() => {
    audited++;
    check();
  }),
];
await Promise.all(
  Array.from({ length: TOTAL }, (_, i) =>
    topic.send({ body: JSON.stringify({ order: i, item: "coffee" }), metadata: { seq: String(i) } }),
  ),
);
console.log(`sent ${TOTAL} orders to mem://orders (each send resolved once the broker accepted it)`);
await finished;
const ms = performance.now() - started;
console.log(`billing workers handled ${seen.size} distinct orders: A ${handledBy.A}, B ${handledBy.B}`);
console.log(`${nacked} orders failed once, were nacked, and came back`);
console.log(`audit subscription received all ${audited}`);
console.log(`health: topic ${topic.health.state}, subscriptions ${workerA.health.state}/${audit.health.state}`);

await Promise.all([topic.shutdown(), workerA.shutdown(), workerB.shutdown(), audit.shutdown()]);
await Promise.all(processing);
console.log(`shut down cleanly in ${ms.toFixed(0)} ms; state now ${topic.health.state}`);

// Bad input is a PubSubError with a portable code and a message that says what to fix.
const error = await openTopic("mem://orders?colour=blue").catch((e) => e);
console.log(`a bad URL gives ${errorCode(error)}: ${error.message}`);
if (seen.size !== TOTAL || audited !== TOTAL || handledBy.A + handledBy.B !== TOTAL || nacked !== TOTAL / 50) {
  process.exit(1);
}

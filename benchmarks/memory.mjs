// Memory per message on mem:// (100-byte bodies, no metadata): the V8 heap used, after a full collection,
// with N of each held, against the same process without them, divided by N.
//   stored:       a message sent and waiting in the broker (the mem:// broker's own cost, for reference)
//   in-flight send: a `topic.send` called and not yet settled (its promise, its place in the batcher)
//   held lease:   a message received and not yet acked (the Message, its lease, the driver's record of the delivery)
//   buffered:     a message fetched into the subscription's receive buffer, not yet taken
// Bodies stay in the heap's count: ArrayBuffers are counted separately by V8 (process.memoryUsage's
// arrayBuffers), and are printed as such. Needs --expose-gc (`pnpm bench` gives it).
// Run: node --expose-gc benchmarks/memory.mjs [--root DIR] (DIR: another built checkout, to compare)
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { sendWindowed } from "./lib.mjs";

const args = process.argv.slice(2);
const words = args.filter((a, i) => !a.startsWith("--") && !args[i - 1]?.startsWith("--"));
// `pnpm bench` passes its words on: run when none is given, or one names mem or memory.
if (words.length > 0 && !words.some((w) => w === "mem" || w === "memory")) process.exit(0);
if (!globalThis.gc) throw new Error("run with node --expose-gc");
const rootArg = args.indexOf("--root");
const root = rootArg === -1 ? fileURLToPath(new URL("..", import.meta.url)) : args[rootArg + 1];
const mem = await import(pathToFileURL(join(root, "packages/driver-memory/dist/index.js")).href);
const N = 20_000;
const BODY = new Uint8Array(100).fill(120);

/** Heap used and ArrayBuffer bytes after full collections. */
function heap() {
  for (let i = 0; i < 3; i++) globalThis.gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, buffers: m.arrayBuffers };
}
const per = (after, before, n) => ({
  heap: Math.round((after.heap - before.heap) / n),
  buffers: Math.round((after.buffers - before.buffers) / n),
});

function open(options = {}) {
  const broker = new mem.MemBroker();
  const topic = mem.openMemTopic("m", { broker });
  const subscription = mem.openMemSubscription("m", { broker, subscription: "s", ...options });
  const state = () => broker.subscription("m", "s", undefined);
  return { broker, topic, subscription, state };
}

const sendAll = (topic, n) => sendWindowed(n, 1000, () => topic.send({ body: BODY }));

const rows = [];

// Stored and held: one batch at a time (maxReceiveBatchSize 1), so the buffer holds next to nothing.
{
  const { topic, subscription, state } = open({ maxReceiveBatchSize: 1 });
  await subscription.ready();
  const empty = heap();
  await sendAll(topic, N);
  const stored = heap();
  rows.push(["stored in the broker", per(stored, empty, N)]);
  const held = [];
  for (let i = 0; i < N; i++) held.push(await subscription.receive());
  const holding = heap();
  const buffered = state().outstanding - held.length;
  rows.push(["held lease (received, not acked)", per(holding, stored, N), `${buffered} also buffered`]);
  for (const m of held) m.ack();
  held.length = 0;
  await subscription.shutdown();
  await topic.shutdown();
}

// In flight: sends called in one go, measured before any batch left (they wait for the end of the tick).
{
  const { topic, subscription } = open();
  await subscription.ready();
  await sendAll(topic, 1000); // warm the code and the batcher's arrays
  const before = heap();
  const pending = [];
  for (let i = 0; i < N; i++) pending.push(topic.send({ body: BODY }));
  const during = heap();
  rows.push(["in-flight send", per(during, before, N)]);
  await Promise.all(pending);
  await subscription.shutdown();
  await topic.shutdown();
}

// Buffered: a fast consumer grows the receive batches to their maximum (1000); then it stops taking, and
// what the buffer fetched is measured against the same messages handed back to the broker by shutdown.
{
  const { topic, subscription, state } = open();
  await sendAll(topic, 10 * N);
  let taken = 0;
  for await (const m of subscription) {
    m.ack();
    if (++taken === 9 * N) break;
  }
  await new Promise(setImmediate); // the last acks go out
  await new Promise(setImmediate);
  const buffered = state().outstanding;
  const withBuffer = heap();
  await subscription.shutdown(); // nacks what was buffered: back in the broker
  const without = heap();
  rows.push(["buffered (fetched, not taken)", per(withBuffer, without, buffered), `${buffered} buffered`]);
  await topic.shutdown();
}

console.log(`memory per message, mem://, 100-byte bodies, no metadata, ${N} of each (${root})`);
console.log("what                              | heap bytes | ArrayBuffer bytes | note");
for (const [what, b, note = ""] of rows) {
  console.log(`${what.padEnd(33)} | ${String(b.heap).padStart(10)} | ${String(b.buffers).padStart(17)} | ${note}`);
}

// What every package benchmark needs: bodies that carry their index, a tally of what arrived,
// a bounded send window, a run of process() until all are in, formatting, and a machine-readable report.
// Imported as "../../../benchmarks/lib.mjs".
//
// Rounds are not separated by a forced gc(), though `pnpm bench` runs every benchmark with --expose-gc (for
// those that measure memory): a forced full collection makes V8 deoptimise every function whose optimised code
// had embedded an object of the round before (each round opens new topics, subscriptions and clients), so the
// next round measured re-optimisation, which a service, whose clients live as long as it does, never pays. On
// mem:// (packages/driver-memory/benchmarks/hand-off.mjs) that was some 35 functions deoptimised and 115
// recompiled per round, and a quarter of the throughput.
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";

/** A body of `size` bytes whose first four bytes are `i`, big-endian. */
export function indexedBody(i, size) {
  const b = Buffer.alloc(size, 120);
  b.writeUInt32BE(i, 0);
  return b;
}

/**
 * Counts distinct messages by the index in their body (see indexedBody); `allIn`
 * resolves with the time the n-th distinct one came. A body of the wrong size throws.
 */
export function tally(n, size) {
  const seen = new Uint8Array(n);
  let distinct = 0;
  let finished;
  const allIn = new Promise((resolve) => {
    finished = resolve;
  });
  return {
    allIn,
    get distinct() {
      return distinct;
    },
    add(body) {
      if (body.byteLength !== size) throw new Error(`wrong body size ${body.byteLength}`);
      const i = Buffer.from(body.buffer, body.byteOffset, body.byteLength).readUInt32BE(0);
      if (seen[i] === 0) {
        seen[i] = 1;
        if (++distinct === n) finished(performance.now());
      }
    },
  };
}

/**
 * Calls `send(i)` for i in [0, n), with at most `window` promises unsettled at
 * once; rejects with the first failure. O(1) per message, so the harness costs
 * the same, and little, for every contender.
 */
export async function sendWindowed(n, window, send) {
  let inFlight = 0;
  let wake;
  let failure;
  const settled = () => {
    inFlight--;
    const w = wake;
    wake = undefined;
    w?.();
  };
  const failed = (err) => {
    failure ??= err;
    settled();
  };
  for (let i = 0; i < n; i++) {
    inFlight++;
    send(i).then(settled, failed);
    if (inFlight >= window) {
      await new Promise((resolve) => {
        wake = resolve;
      });
    }
    if (failure) throw failure;
  }
  while (inFlight > 0) {
    await new Promise((resolve) => {
      wake = resolve;
    });
  }
  if (failure) throw failure;
}

/**
 * Sends `n` messages (`send(i)` sends the i-th, at most `window` unsettled) while `subscription.process`
 * hands each to `handle`, shuts the subscription down at the n-th and then the topic, and resolves with the
 * ms from the first send to the n-th hand-off: the clock stops there, as a bare queue's does, since
 * shutdown is not throughput. `processOptions` go to `process`. Throws unless exactly `n` were handled.
 */
export async function processUntilAllIn(n, { topic, subscription, send, handle, window = 1000, processOptions }) {
  let handled = 0;
  let end = 0;
  const start = performance.now();
  const processing = subscription.process((message) => {
    handle?.(message);
    if (++handled === n) {
      end = performance.now();
      void subscription.shutdown();
    }
  }, processOptions);
  await sendWindowed(n, window, send);
  await processing;
  await topic.shutdown();
  if (handled !== n) throw new Error(`lost or repeated messages: ${handled} of ${n} handled`);
  return end - start;
}

/** Rejects if `promise` has not settled within `ms`. */
export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
export const rate = (n, ms) => Math.round(n / (ms / 1000));
export const fmt = (x) => x.toLocaleString("en-US");

/**
 * Writes `figures` (plain JSON) to `$PUBSUB_BENCH_REPORT/<name>.json` when that variable names a folder
 * (`pnpm bench --report` sets it, and draws the charts from these files); does nothing otherwise. Call it
 * once at the end of a benchmark with the figures it printed; `name` names the file, one per benchmark.
 * Throughput against other contenders (what benchmarks/charts/throughput.mjs draws) has one shape:
 * `{ ours: "rabbit://", runs: [{ messages: 20000, rates: { "rabbit://": 9100, amqplib: 9800 } }] }` (msgs/s);
 * a run may add `ratios: { amqplib: 0.94 }`, ours ÷ each, where the benchmark computes them otherwise than as the
 * ratio of the rates (rabbit's: the median of per-round ratios).
 */
export function report(name, figures) {
  const dir = process.env.PUBSUB_BENCH_REPORT;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  const cpus = os.cpus();
  const machine = { cores: cpus.length, cpu: cpus[0]?.model.trim() ?? "unknown", node: process.version };
  const written = { name, at: new Date().toISOString(), machine, figures };
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(written, null, 2)}\n`);
}

/**
 * Returns a function that opens a fresh topic and subscription pair of the checkout built at `codeRoot`,
 * for `broker` "mem" (a topic and a named subscription of a new in-process broker) or "rabbit" (a fanout
 * exchange and its queue, named `prefix-…`, made by the rabbit benchmarks' helper and removed by `close`).
 */
export async function pairOpener(broker, codeRoot, prefix = "pps-bench") {
  const { pathToFileURL } = await import("node:url");
  const dist = (pkg) => pathToFileURL(join(codeRoot, `packages/${pkg}/dist/index.js`)).href;
  if (broker === "mem") {
    const mem = await import(dist("driver-memory"));
    return async () => {
      const memBroker = new mem.MemBroker();
      const topic = mem.openMemTopic("bench", { broker: memBroker });
      const subscription = mem.openMemSubscription("bench", { broker: memBroker, subscription: "bench" });
      return { topic, subscription, close: async () => {} };
    };
  }
  const rabbit = await import(dist("driver-rabbit"));
  const { benchQueue, SERVER_URL } = await import(
    new URL("../packages/driver-rabbit/benchmarks/lib/bench-queue.mjs", import.meta.url).href
  );
  return async () => {
    const bench = await benchQueue(prefix);
    const topic = rabbit.openRabbitTopic({ serverUrl: SERVER_URL }, bench.exchange);
    const subscription = rabbit.openRabbitSubscription({ serverUrl: SERVER_URL }, bench.queue);
    await Promise.all([topic.ready(), subscription.ready()]);
    return { topic, subscription, close: () => bench.remove() };
  };
}

// Core's cost per message, seen on mem://, where there is little else: three ways of using the library,
// each beside a bare in-process queue doing the same hand-off in the same run, contenders alternating.
//   send-only:     `topic.send` with a window of 1000 unsettled sends; bare: push onto an array, a promise
//                  per send resolved when its end-of-tick batch was handed over.
//   for-await+ack: a sender (same window) and `for await (const m of subscription) m.ack()`; bare: the same
//                  sender into an array queue read by a hand-written async iterator, each item "acked" into
//                  an ack list flushed once a tick.
//   process c=16:  `subscription.process(handler, { concurrency: 16 })` with a handler that returns at once;
//                  bare: 16 async workers taking from the array queue, waiting on a promise when it is empty.
// Prints, for each, the best msgs/s of the rounds (on a shared machine the mean measures the neighbours as
// much as the code) and the mean CPU time per message (process.cpuUsage, user + system: steadier under
// load, though it counts V8's helper threads), the ratios, and issue 27's goal for ours.
// Run: node packages/driver-memory/benchmarks/hand-off.mjs [messages] [rounds]
// (PUBSUB_BENCH_OPTIONS from `pnpm bench` is not read: the counts are positional.)
import { MemBroker, openMemSubscription, openMemTopic } from "@portable-pubsub/driver-memory";
import { fmt, processUntilAllIn, rate, sendWindowed } from "../../../benchmarks/lib.mjs";

const [messagesArg, roundsArg] = process.argv.slice(2).map(Number);
const N = messagesArg > 0 ? messagesArg : 200_000;
const ROUNDS = roundsArg > 0 ? roundsArg : 5;
const BODY = new Uint8Array(100).fill(120);
const WINDOW = 1000;

/** The bare queue: an array with a head index, a waiting consumer's wake-up, and sends resolved per tick. */
function bareQueue() {
  let items = [];
  let head = 0;
  const wakers = [];
  let settle = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const batch = settle;
    settle = [];
    for (const resolve of batch) resolve();
  };
  return {
    send(body) {
      return new Promise((resolve) => {
        items.push(body);
        settle.push(resolve);
        if (!scheduled) {
          scheduled = true;
          queueMicrotask(flush);
        }
        wakers.pop()?.();
      });
    },
    take() {
      if (head === items.length) return undefined;
      const item = items[head];
      items[head++] = undefined;
      if (head === items.length) {
        items = [];
        head = 0;
      }
      return item;
    },
    wait() {
      return new Promise((resolve) => wakers.push(resolve));
    },
  };
}

/** Acks of the bare contenders: collected, handed over once a tick, as core's ack batching does. */
function bareAcks() {
  let acks = [];
  let scheduled = false;
  let total = 0;
  return {
    ack(id) {
      acks.push(id);
      if (!scheduled) {
        scheduled = true;
        queueMicrotask(() => {
          scheduled = false;
          total += acks.length;
          acks = [];
        });
      }
    },
    get total() {
      return total;
    },
  };
}

function openOurs() {
  const broker = new MemBroker();
  const topic = openMemTopic("bench", { broker });
  const subscription = openMemSubscription("bench", { broker, subscription: "bench" });
  return { broker, topic, subscription };
}

const contenders = {
  "send-only": {
    goal: 2_000_000,
    async ours(n) {
      const { topic, subscription } = openOurs();
      const start = performance.now();
      await sendWindowed(n, WINDOW, () => topic.send({ body: BODY }));
      const ms = performance.now() - start;
      await topic.shutdown();
      await subscription.shutdown();
      return ms;
    },
    async bare(n) {
      const queue = bareQueue();
      const start = performance.now();
      await sendWindowed(n, WINDOW, () => queue.send(BODY));
      const ms = performance.now() - start;
      let held = 0;
      while (queue.take()) held++;
      if (held !== n) throw new Error(`bare send lost messages: ${held}/${n}`);
      return ms;
    },
  },
  "for-await+ack": {
    goal: 1_000_000,
    async ours(n) {
      const { topic, subscription } = openOurs();
      let received = 0;
      let bytes = 0;
      const start = performance.now();
      const sending = sendWindowed(n, WINDOW, () => topic.send({ body: BODY }));
      for await (const message of subscription) {
        bytes += message.body.byteLength;
        message.ack();
        if (++received === n) break;
      }
      const ms = performance.now() - start;
      await sending;
      await topic.shutdown();
      await subscription.shutdown();
      if (bytes !== n * BODY.byteLength) throw new Error(`lost messages: ${received}/${n}`);
      return ms;
    },
    async bare(n) {
      const queue = bareQueue();
      const acks = bareAcks();
      const iterable = {
        [Symbol.asyncIterator]: () => ({
          next: async () => {
            for (;;) {
              const value = queue.take();
              if (value !== undefined) return { value, done: false };
              await queue.wait();
            }
          },
        }),
      };
      let received = 0;
      let bytes = 0;
      const start = performance.now();
      const sending = sendWindowed(n, WINDOW, () => queue.send(BODY));
      for await (const body of iterable) {
        bytes += body.byteLength;
        acks.ack(received);
        if (++received === n) break;
      }
      const ms = performance.now() - start;
      await sending;
      if (bytes !== n * BODY.byteLength) throw new Error("baseline lost messages");
      return ms;
    },
  },
  "process c=16": {
    goal: 1_500_000,
    async ours(n) {
      const { topic, subscription } = openOurs();
      let bytes = 0;
      const ms = await processUntilAllIn(n, {
        topic,
        subscription,
        send: () => topic.send({ body: BODY }),
        handle: (message) => {
          bytes += message.body.byteLength;
        },
        window: WINDOW,
        processOptions: { concurrency: 16 },
      });
      if (bytes !== n * BODY.byteLength) throw new Error(`lost bytes: ${bytes} of ${n * BODY.byteLength}`);
      return ms;
    },
    async bare(n) {
      const queue = bareQueue();
      const acks = bareAcks();
      let received = 0;
      let bytes = 0;
      let end = 0;
      const handler = (body) => {
        bytes += body.byteLength;
        if (++received === n) end = performance.now();
      };
      const worker = async () => {
        while (received < n) {
          const body = queue.take();
          if (body === undefined) {
            await queue.wait();
            continue;
          }
          handler(body);
          acks.ack(received);
        }
      };
      const start = performance.now();
      const workers = Promise.all(Array.from({ length: 16 }, worker));
      await sendWindowed(n, WINDOW, () => queue.send(BODY));
      // Workers still waiting once all is in are woken to see the count.
      while (received < n) await new Promise(setImmediate);
      for (let i = 0; i < 16; i++) void queue.send(BODY);
      await workers;
      if (bytes < n * BODY.byteLength) throw new Error("baseline lost messages");
      return end - start;
    },
  },
};

/**
 * Runs `run(n)`, which returns its wall time in ms, and returns that and the CPU time it took, in µs per message.
 * No gc() before it (see benchmarks/lib.mjs): with one, `--trace-deopt` showed some 35 functions deoptimised for
 * "weak objects" and 115 recompiled per round; without, none and 2.
 */
async function measured(run) {
  const cpu = process.cpuUsage();
  const ms = await run(N);
  const used = process.cpuUsage(cpu);
  return { rate: rate(N, ms), cpuUs: (used.user + used.system) / N };
}

console.log(`mem:// per message: ${fmt(N)} 100-byte messages per run, ${ROUNDS} rounds, ours and bare alternating`);
console.log("scenario       | ours msgs/s | bare msgs/s | ratio | ours CPU/msg | bare CPU/msg | ratio | goal (ours)");
for (const [name, c] of Object.entries(contenders)) {
  // Warm-up: V8 settles its optimised code over the first few hundred thousand messages.
  await c.ours(N);
  await c.bare(N);
  let ours = 0;
  let bare = 0;
  let oursCpu = 0;
  let bareCpu = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const b = await measured(c.bare);
    const o = await measured(c.ours);
    bare = Math.max(bare, b.rate);
    ours = Math.max(ours, o.rate);
    bareCpu += b.cpuUs / ROUNDS;
    oursCpu += o.cpuUs / ROUNDS;
  }
  const met = ours >= c.goal ? "met" : "not met";
  const us = (x) => `${x.toFixed(2)} µs`.padStart(12);
  console.log(
    `${name.padEnd(14)} | ${fmt(ours).padStart(11)} | ${fmt(bare).padStart(11)} | ${(ours / bare).toFixed(2).padStart(5)} | ${us(oursCpu)} | ${us(bareCpu)} | ${(bareCpu / oursCpu).toFixed(2).padStart(5)} | ${fmt(c.goal)} ${met}`,
  );
}

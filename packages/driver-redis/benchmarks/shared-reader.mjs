// What sharing a consumer group's reader costs one redisstream:// subscription: the latency of one
// message at a time (send, receive, ack, then 5 ms of quiet so that the group's read blocks again)
// for a subscription alone in its group, and for one whose group has 100 more subscriptions, each
// on a stream of its own, waiting in a receive with nothing to read. With others, every receive
// of the measured subscription joins a read that blocks on their streams without its own: it
// wakes that read (CLIENT UNBLOCK) and the reader reads again with its stream. Prints the median
// and p99 latency, the process's CPU per message, and the ratios shared / alone.
// Run after a build: node packages/driver-redis/benchmarks/shared-reader.mjs [messages]
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { openSubscription, openTopic } from "@portable-pubsub/core";
import { Redis } from "ioredis";

const N = Number(process.argv[2]) || 500;
const OTHERS = 100;
const QUIET_MS = 5;
const serverUrl = process.env.REDIS_SERVER_URL ?? "redis://127.0.0.1:6379";
const run = `pps-bench-shared-${randomUUID().slice(0, 8)}`;

async function pingPong(others) {
  const group = `g${others}`;
  const idle = await Promise.all(
    Array.from({ length: others }, (_, i) =>
      openSubscription(`redisstream://${run}-o${i}?group=${group}`, { serverUrl }),
    ),
  );
  const waiting = idle.map((s) => s.receive({ signal: AbortSignal.timeout(600_000) }).catch(() => {}));
  const sub = await openSubscription(`redisstream://${run}-${others}?group=${group}`, { serverUrl });
  const topic = await openTopic(`redisstream://${run}-${others}`, { serverUrl });
  const latencies = [];
  const cpuStart = process.cpuUsage();
  for (let i = 0; i < N; i++) {
    const start = performance.now();
    await topic.send({ body: "x" });
    (await sub.receive({ signal: AbortSignal.timeout(30_000) })).ack();
    latencies.push(performance.now() - start);
    await sleep(QUIET_MS);
  }
  const cpu = process.cpuUsage(cpuStart);
  await Promise.all([...idle, sub, topic].map((handle) => handle.shutdown()));
  await Promise.all(waiting);
  latencies.sort((a, b) => a - b);
  return {
    median: latencies[Math.floor(N / 2)],
    p99: latencies[Math.floor(N * 0.99)],
    cpuUs: (cpu.user + cpu.system) / N,
  };
}

const admin = new Redis(serverUrl);
try {
  const alone = await pingPong(0);
  const shared = await pingPong(OTHERS);
  const line = (label, r) =>
    `${label}: median ${r.median.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, ${r.cpuUs.toFixed(0)} µs CPU/msg`;
  console.log(`redisstream: ${N} messages one at a time, ${QUIET_MS} ms apart; a group's reader alone or shared`);
  console.log(line("alone in its group", alone));
  console.log(line(`with ${OTHERS} idle subscriptions in its group`, shared));
  console.log(
    `ratio shared/alone: median ${(shared.median / alone.median).toFixed(2)}, p99 ${(shared.p99 / alone.p99).toFixed(2)}, CPU ${(shared.cpuUs / alone.cpuUs).toFixed(2)}`,
  );
} finally {
  const keys = await admin.keys(`${run}*`);
  if (keys.length > 0) await admin.del(...keys);
  admin.disconnect();
}

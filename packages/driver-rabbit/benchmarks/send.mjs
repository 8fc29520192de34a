// rabbit:// sends against hand-written amqplib doing the same work in the same run, on the same
// broker: 256-byte persistent messages, published with mandatory to a fanout exchange with one queue.
//   (i)   many in flight: 1,000 sends outstanding at a time, vs a confirm channel with a 1,000-message window
//   (ii)  sequential: await each send, vs publish one message and wait for its confirm (noDelay on)
//   (iii) recovery: ms from a cut of every connection (FaultProxy) to the first confirmed send
// Run after a build: node packages/driver-rabbit/benchmarks/send.mjs [inFlightCount] [sequentialCount]
// RABBIT_SERVER_URL defaults to amqp://guest:guest@127.0.0.1:5672.
import { FaultProxy } from "@portable-pubsub/conformance";
import { openRabbitTopic, rabbitTopicDriver } from "@portable-pubsub/driver-rabbit";
import { connect } from "amqplib";
import { fmt, median, rate, sendWindowed } from "../../../benchmarks/lib.mjs";
import { benchQueue, SERVER_URL } from "./lib/bench-queue.mjs";

const [inFlightArg, sequentialArg] = process.argv.slice(2).map(Number);
const IN_FLIGHT_COUNT = inFlightArg > 0 ? inFlightArg : 20_000;
const SEQUENTIAL_COUNT = sequentialArg > 0 ? sequentialArg : 500;
const ROUNDS = 9;
const WINDOW = 1000;
const BODY = Buffer.alloc(256, 120);
const bench = await benchQueue("pps-bench");
const EXCHANGE = bench.exchange;
const purge = bench.purge;

/** Hand-written amqplib: a confirm channel with noDelay, publishing as the driver does. */
async function rawChannel() {
  const url = new URL(SERVER_URL);
  const connection = await connect(
    {
      protocol: "amqp",
      hostname: url.hostname,
      port: Number(url.port || 5672),
      username: decodeURIComponent(url.username || "guest"),
      password: decodeURIComponent(url.password || "guest"),
      heartbeat: 5,
    },
    { noDelay: true },
  );
  connection.on("error", () => {});
  const channel = await connection.createConfirmChannel();
  channel.on("error", () => {});
  return { connection, channel };
}

const publishOptions = { persistent: true, mandatory: true };
const confirmOne = (channel) =>
  new Promise((resolve, reject) => {
    channel.publish(EXCHANGE, "", BODY, publishOptions, (err) => (err ? reject(err) : resolve()));
  });

/** Sends `n` with at most WINDOW unconfirmed, through the window every package benchmark uses. */
const windowed = (n, send) => sendWindowed(n, WINDOW, () => send());

/**
 * Runs both contenders on open connections, ROUNDS times back to back, alternating which goes first, and
 * reports the median of the per-round ratios: the machine's load drifts, a pair run back to back sees the same.
 */
async function compare(label, n, drive) {
  const raw = await rawChannel();
  const topic = openRabbitTopic({ serverUrl: SERVER_URL }, EXCHANGE);
  const contenders = {
    raw: () => confirmOne(raw.channel),
    ours: () => topic.send({ body: BODY }),
  };
  await contenders.raw();
  await contenders.ours();
  const time = async (send) => {
    const start = performance.now();
    await drive(n, send);
    const ms = performance.now() - start;
    await purge();
    return ms;
  };
  const rounds = [];
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? ["raw", "ours"] : ["ours", "raw"];
    const ms = {};
    for (const name of order) ms[name] = await time(contenders[name]);
    rounds.push({ ours: n / (ms.ours / 1000), raw: n / (ms.raw / 1000), ratio: ms.raw / ms.ours });
  }
  await topic.shutdown();
  await raw.connection.close();
  const ratio = median(rounds.map((r) => r.ratio));
  const msgs = (v) => fmt(Math.round(v)).padStart(7);
  console.log(
    `${label.padEnd(44)} n=${String(n).padStart(6)}  rabbit:// ${msgs(median(rounds.map((r) => r.ours)))} msg/s` +
      `  amqplib ${msgs(median(rounds.map((r) => r.raw)))} msg/s  ratio ${ratio.toFixed(2)} (median of ${ROUNDS};` +
      ` range ${Math.min(...rounds.map((r) => r.ratio)).toFixed(2)}–${Math.max(...rounds.map((r) => r.ratio)).toFixed(2)})`,
  );
  return ratio;
}

/**
 * Sequential sends, interleaved one by one: raw, ours, raw, ours… each awaited, each timed. The load on the
 * machine drifts far more over a round than between two neighbouring sends, so this cancels it best.
 */
async function compareSequential(label, n) {
  const raw = await rawChannel();
  const topic = openRabbitTopic({ serverUrl: SERVER_URL }, EXCHANGE);
  // The driver alone, without core's Topic (batcher, retry, span) on top: where the time goes.
  const driver = rabbitTopicDriver({ serverUrl: SERVER_URL, connectionName: "bench-driver-only" }, EXCHANGE);
  const batch = [{ body: BODY, metadata: {} }];
  const never = new AbortController().signal;
  const contenders = [
    () => confirmOne(raw.channel),
    () => topic.send({ body: BODY }),
    () => driver.sendBatch(batch, never),
  ];
  for (const send of contenders) await send();
  const ms = [0, 0, 0];
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < contenders.length; c++) {
        const t0 = performance.now();
        await contenders[c]();
        ms[c] += performance.now() - t0;
      }
    }
    await purge();
  }
  await topic.shutdown();
  await driver.close(AbortSignal.timeout(5000));
  await raw.connection.close();
  const total = n * ROUNDS;
  const perSecond = (m) => fmt(rate(total, m)).padStart(7);
  const extra = (m) => `${(((m - ms[0]) / total) * 1000).toFixed(1)} µs`;
  const ratio = ms[0] / ms[1];
  console.log(
    `${label.padEnd(44)} n=${String(total).padStart(6)}  rabbit:// ${perSecond(ms[1])} msg/s  amqplib ${perSecond(ms[0])} msg/s` +
      `  ratio ${ratio.toFixed(2)} (interleaved one by one; ${extra(ms[1])} more per send)`,
  );
  console.log(
    `${"     the driver alone, without core's Topic".padEnd(44)} n=${String(total).padStart(6)}  driver    ${perSecond(ms[2])} msg/s` +
      `  amqplib ${perSecond(ms[0])} msg/s  ratio ${(ms[0] / ms[2]).toFixed(2)} (${extra(ms[2])} more per send)`,
  );
  return ratio;
}

async function recovery(cuts) {
  const proxy = await FaultProxy.start({
    upstream: { host: new URL(SERVER_URL).hostname, port: Number(new URL(SERVER_URL).port || 5672) },
  });
  const url = new URL(SERVER_URL);
  url.host = proxy.address;
  const topic = openRabbitTopic({ serverUrl: url.href }, EXCHANGE);
  await topic.send({ body: BODY });
  const times = [];
  for (let i = 0; i < cuts; i++) {
    await new Promise((r) => setTimeout(r, 200));
    const cutAt = performance.now();
    proxy.cut();
    await topic.send({ body: BODY });
    times.push(performance.now() - cutAt);
  }
  await topic.shutdown();
  await proxy.close();
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  console.log(
    `${"(iii) cut → first confirmed send".padEnd(44)} ${cuts} cuts  median ${median.toFixed(0)} ms  ` +
      `min ${times[0].toFixed(0)} ms  max ${times[times.length - 1].toFixed(0)} ms`,
  );
}

try {
  console.log(`rabbit:// vs amqplib on ${new URL(SERVER_URL).host}, 256-byte messages, ${ROUNDS} rounds`);
  const r1 = await compare("(i) 1,000 in flight vs confirm window 1,000", IN_FLIGHT_COUNT, windowed);
  const r2 = await compareSequential("(ii) sequential awaited sends", SEQUENTIAL_COUNT);
  await recovery(10);
  const targets = [
    ["(i)", r1],
    ["(ii)", r2],
  ].filter(([, r]) => r < 0.9);
  if (targets.length > 0)
    console.log(`below the 0.9 target: ${targets.map(([l, r]) => `${l} ${r.toFixed(2)}`).join(", ")}`);
} finally {
  await bench.remove();
}

// rabbit:// sends against hand-written amqplib doing the same work in the same run, on the same
// broker: 256-byte persistent messages, published with mandatory to a fanout exchange with one queue.
//   (i)   many in flight: 1,000 sends outstanding at a time, vs a confirm channel with a 1,000-message window
//   (ii)  sequential: await each send, vs publish one message and wait for its confirm (noDelay on)
//   (iii) recovery: ms from a cut of every connection (FaultProxy) to the first confirmed send
// Run after a build: node packages/driver-rabbit/benchmarks/send.mjs [inFlightCount] [sequentialCount]
// RABBIT_SERVER_URL defaults to amqp://guest:guest@127.0.0.1:5672.
import { FaultProxy } from "@portable-pubsub/conformance";
import { openRabbitTopic } from "@portable-pubsub/driver-rabbit";
import { connect } from "amqplib";

const SERVER_URL = process.env.RABBIT_SERVER_URL ?? "amqp://guest:guest@127.0.0.1:5672";
const [inFlightArg, sequentialArg] = process.argv.slice(2).map(Number);
const IN_FLIGHT_COUNT = inFlightArg > 0 ? inFlightArg : 50_000;
const SEQUENTIAL_COUNT = sequentialArg > 0 ? sequentialArg : 3_000;
const ROUNDS = 5;
const WINDOW = 1000;
const BODY = Buffer.alloc(256, 120);
const suffix = Math.random().toString(36).slice(2, 8);
const EXCHANGE = `pps-bench-${suffix}`;
const QUEUE = `pps-bench-${suffix}`;

const admin = await connect(SERVER_URL);
admin.on("error", () => {});
const adminChannel = await admin.createChannel();
await adminChannel.assertExchange(EXCHANGE, "fanout", { durable: false });
await adminChannel.assertQueue(QUEUE, { durable: false });
await adminChannel.bindQueue(QUEUE, EXCHANGE, "");
const purge = () => adminChannel.purgeQueue(QUEUE);

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

async function rawInFlight(n) {
  const { connection, channel } = await rawChannel();
  const start = performance.now();
  await new Promise((resolve, reject) => {
    let published = 0;
    let confirmed = 0;
    const pump = () => {
      while (published < n && published - confirmed < WINDOW) {
        published++;
        channel.publish(EXCHANGE, "", BODY, publishOptions, (err) => {
          if (err) return reject(err);
          if (++confirmed === n) resolve();
          else pump();
        });
      }
    };
    pump();
  });
  const ms = performance.now() - start;
  await connection.close();
  return ms;
}

async function oursInFlight(n) {
  const topic = openRabbitTopic({ serverUrl: SERVER_URL }, EXCHANGE);
  await topic.send({ body: BODY }); // connect outside the timing, as the raw client does
  const start = performance.now();
  await new Promise((resolve, reject) => {
    let sent = 0;
    let confirmed = 0;
    const pump = () => {
      while (sent < n && sent - confirmed < WINDOW) {
        sent++;
        topic.send({ body: BODY }).then(() => {
          if (++confirmed === n) resolve();
          else pump();
        }, reject);
      }
    };
    pump();
  });
  const ms = performance.now() - start;
  await topic.shutdown();
  return ms;
}

async function rawSequential(n) {
  const { connection, channel } = await rawChannel();
  await confirmOne(channel);
  const start = performance.now();
  for (let i = 0; i < n; i++) await confirmOne(channel);
  const ms = performance.now() - start;
  await connection.close();
  return ms;
}

async function oursSequential(n) {
  const topic = openRabbitTopic({ serverUrl: SERVER_URL }, EXCHANGE);
  await topic.send({ body: BODY });
  const start = performance.now();
  for (let i = 0; i < n; i++) await topic.send({ body: BODY });
  const ms = performance.now() - start;
  await topic.shutdown();
  return ms;
}

/** Runs both contenders ROUNDS times, alternating; returns the best rate of each. */
async function compare(label, n, ours, raw) {
  let bestOurs = 0;
  let bestRaw = 0;
  for (let round = 0; round < ROUNDS; round++) {
    global.gc?.();
    bestRaw = Math.max(bestRaw, n / ((await raw(n)) / 1000));
    await purge();
    global.gc?.();
    bestOurs = Math.max(bestOurs, n / ((await ours(n)) / 1000));
    await purge();
  }
  const ratio = bestOurs / bestRaw;
  console.log(
    `${label.padEnd(44)} n=${String(n).padStart(6)}  rabbit:// ${Math.round(bestOurs).toLocaleString("en").padStart(7)} msg/s` +
      `  amqplib ${Math.round(bestRaw).toLocaleString("en").padStart(7)} msg/s  ratio ${ratio.toFixed(2)}`,
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
  console.log(`rabbit:// vs amqplib on ${new URL(SERVER_URL).host}, 256-byte messages, best of ${ROUNDS} rounds`);
  const r1 = await compare("(i) 1,000 in flight vs confirm window 1,000", IN_FLIGHT_COUNT, oursInFlight, rawInFlight);
  const r2 = await compare("(ii) sequential awaited sends", SEQUENTIAL_COUNT, oursSequential, rawSequential);
  await recovery(10);
  const targets = [
    ["(i)", r1],
    ["(ii)", r2],
  ].filter(([, r]) => r < 0.9);
  if (targets.length > 0)
    console.log(`below the 0.9 target: ${targets.map(([l, r]) => `${l} ${r.toFixed(2)}`).join(", ")}`);
} finally {
  await adminChannel.deleteQueue(QUEUE).catch(() => {});
  await adminChannel.deleteExchange(EXCHANGE).catch(() => {});
  await admin.close().catch(() => {});
}

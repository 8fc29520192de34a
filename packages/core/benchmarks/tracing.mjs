// What tracing costs: mem:// end to end (send, receive, ack; 100-byte bodies, send window 1000)
// with no OpenTelemetry SDK, and with an SDK (always-on sampling, a batch span processor, W3C
// propagation, metrics with a reader) registered, each run in its own process, alternating.
// With --baseline-ref REV (default: none), the same run also measures a checkout of REV (built in a
// temporary git worktree), so that the cost of the tracing code without an SDK is measured against
// the code before it, in the same run.
// With --baseline-dir DIR, a built checkout of your own is the baseline instead (such as one whose
// telemetry hooks were made inert, to measure what they cost and nothing else).
// With --broker rabbit, the same runs go through rabbit:// (RABBIT_SERVER_URL, default the local broker) instead of
// mem://: there a message costs the broker round trips, which is what the SDK's own per-span cost compares with.
// BENCH_NO_METRICS=1 leaves the meter provider out of the SDK contenders, BENCH_NO_TRACES=1 the tracer provider;
// BENCH_SAMPLED_RATIO sets the sampled contender's ratio (default 0.01). "SDK floor, by hand" makes the SDK calls the
// conventions ask for (two spans, inject, extract, the process duration) around an untraced pipeline: the cost that
// no library can go under.
// Run: node packages/core/benchmarks/tracing.mjs [--broker mem|rabbit] [--baseline-ref REV | --baseline-dir DIR]
//        [--messages N] [--rounds R]
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { report } from "../../../benchmarks/lib.mjs";

/** The ratio of the sampled contender: ParentBased(TraceIdRatioBased), as services at this rate run. */
const SAMPLED_RATIO = Number(process.env.BENCH_SAMPLED_RATIO ?? "0.01");
/** An exporter that drops what it is given: the benchmark measures recording, not a backend. */
const DROP_ALL = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {} };
const here = fileURLToPath(import.meta.url);
const root = fileURLToPath(new URL("../../..", import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i === -1 ? fallback : args[i + 1];
};

if (args[0] === "--child") {
  await child(args[1], args[2], Number(args[3]), args[4]);
} else {
  await parent();
}

async function parent() {
  const broker = option("--broker", "mem");
  if (broker !== "mem" && broker !== "rabbit") throw new Error(`--broker: mem or rabbit, not ${broker}`);
  const messages = Number(option("--messages", broker === "mem" ? "300000" : "30000"));
  const rounds = Number(option("--rounds", "5"));
  const ref = option("--baseline-ref", undefined);
  const dir = option("--baseline-dir", undefined);
  const contenders = [
    { name: "no SDK", root, mode: "plain" },
    { name: "with SDK", root, mode: "sdk" },
    { name: `SDK, sampled ${SAMPLED_RATIO}`, root, mode: "sampled" },
    { name: "SDK floor, by hand", root, mode: "floor" },
  ];
  if (ref) contenders.unshift({ name: `before (${ref})`, root: checkout(ref), mode: "plain" });
  else if (dir) contenders.unshift({ name: "baseline (dir)", root: dir, mode: "plain" });
  console.log(`tracing cost: ${broker}:// end to end, ${messages} messages per run, ${rounds} rounds, alternating`);
  const totals = contenders.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (const [i, c] of contenders.entries()) {
      const out = spawnSync(process.execPath, [here, "--child", c.mode, c.root, String(messages), broker], {
        encoding: "utf8",
      });
      if (out.status !== 0) throw new Error(`${c.name} failed: ${out.stderr}`);
      totals[i].push(Number(out.stdout.trim()));
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rates = totals.map((ms) => messages / (median(ms) / 1000));
  for (const [i, c] of contenders.entries()) {
    console.log(
      `${c.name.padEnd(22)} ${Math.round(rates[i]).toLocaleString("en-US").padStart(12)} msgs/s (median of ${rounds})`,
    );
  }
  const rate = (mode) => rates[contenders.findIndex((c) => c.mode === mode)];
  const cost = (mode) => `${((1 - rate(mode) / rate("plain")) * 100).toFixed(1)}%`;
  if (ref || dir)
    console.log(`cost without an SDK: ${((1 - rate("plain") / rates[0]) * 100).toFixed(1)}% (target < 2%)`);
  console.log(`cost with an SDK: ${cost("sdk")} of the no-SDK throughput (target < 15%)`);
  console.log(`  sampled ${SAMPLED_RATIO}: ${cost("sampled")}`);
  console.log(`  the SDK's own floor (its calls alone, by hand, nothing of ours): ${cost("floor")}`);
  const perMessage = (mode) => 1e6 / rate(mode);
  console.log(
    `  per message: ${perMessage("plain").toFixed(2)} µs untraced; the SDK's floor adds ${(perMessage("floor") - perMessage("plain")).toFixed(2)} µs, ` +
      `ours with an SDK adds ${(perMessage("sdk") - perMessage("plain")).toFixed(2)} µs`,
  );
  report(`tracing-${broker}`, {
    broker: `${broker}://`,
    messages,
    rates: Object.fromEntries(contenders.map((c, i) => [c.name, Math.round(rates[i])])),
  });
}

/** A built checkout of `ref` in a temporary worktree. */
function checkout(ref) {
  const dir = mkdtempSync(join(tmpdir(), "pps-baseline-"));
  execFileSync("git", ["-C", root, "worktree", "add", "--detach", dir, ref], { stdio: "ignore" });
  const pnpm = ["-y", "pnpm@10.34.8"];
  execFileSync("npx", [...pnpm, "install", "--frozen-lockfile", "--offline"], { cwd: dir, stdio: "ignore" });
  execFileSync("npx", [...pnpm, "exec", "tsc", "-b", "packages/core", "packages/driver-memory"], {
    cwd: dir,
    stdio: "ignore",
  });
  if (!existsSync(join(dir, "packages/driver-memory/dist/index.js"))) throw new Error(`could not build ${ref}`);
  process.on("exit", () => {
    try {
      execFileSync("git", ["-C", root, "worktree", "remove", "--force", dir], { stdio: "ignore" });
    } catch {}
  });
  return dir;
}

async function child(mode, codeRoot, n, broker) {
  if (mode === "sdk") await registerSdk({ ratio: 1 });
  if (mode === "sampled") await registerSdk({ ratio: SAMPLED_RATIO });
  const bare = mode === "floor" ? await bareSdk() : undefined;
  const { sendWindowed, pairOpener } = await import(pathToFileURL(join(root, "benchmarks/lib.mjs")).href);
  const body = new Uint8Array(100).fill(120);
  const open = await pairOpener(broker, codeRoot, "pps-bench-tracing");
  const once = async (count) => {
    const { topic, subscription, close } = await open();
    let received = 0;
    let end = 0;
    const start = performance.now();
    const done = () => {
      if (++received === count) {
        end = performance.now();
        void subscription.shutdown();
      }
    };
    const processing = subscription.process(bare ? (m) => bare.process(m, done) : done);
    const send = bare ? () => topic.send({ body, metadata: bare.create() }) : () => topic.send({ body });
    await sendWindowed(count, 1000, send);
    await processing;
    await topic.shutdown();
    await close();
    if (received !== count) throw new Error(`lost messages: ${received}/${count}`);
    return end - start;
  };
  await once(Math.min(n, 100_000)); // warm-up
  console.log(String(await once(n)));
}

/**
 * The least any library doing what the issue asks costs with an SDK, done by hand around an untraced
 * pipeline (no provider registered globally, so the library records nothing): per message a
 * `create` span with its attributes, the context injected, extracted again, a `process` span with
 * its parent and link, the handler run in its context, and the process duration recorded. No batch
 * spans, no counters: what is left out only makes the floor lower.
 */
async function bareSdk() {
  const { api, tracerProvider, propagator, meterProvider } = await sdk(1);
  const tracer = tracerProvider.getTracer("floor");
  const meter = meterProvider.getMeter("floor");
  const duration = meter.createHistogram("messaging.process.duration", { unit: "s" });
  const attributes = (operation) => ({
    "messaging.system": "pubsub_mem",
    "messaging.destination.name": "bench",
    "messaging.destination.subscription.name": "bench",
    "messaging.operation.name": operation,
    "messaging.operation.type": operation,
  });
  const create = attributes("create");
  const process = attributes("process");
  // The library hides W3C's own keys from the handler; these names it passes through.
  const setter = { set: (carrier, key, value) => (carrier[`x-${key}`] = value) };
  const getter = { keys: (c) => Object.keys(c), get: (carrier, key) => carrier[`x-${key}`] };
  return {
    create() {
      const span = tracer.startSpan("create bench", { kind: api.SpanKind.PRODUCER, attributes: create });
      span.setAttribute("messaging.message.body.size", 100);
      span.end();
      const carrier = {};
      propagator.inject(api.trace.setSpan(api.context.active(), span), carrier, setter);
      return carrier;
    },
    process(message, handler) {
      const started = performance.now();
      const parent = propagator.extract(api.ROOT_CONTEXT, message.metadata, getter);
      const link = api.trace.getSpanContext(parent);
      const span = tracer.startSpan(
        "process bench",
        { kind: api.SpanKind.CONSUMER, attributes: process, links: link ? [{ context: link }] : [] },
        parent,
      );
      span.setAttribute("messaging.message.body.size", message.body.byteLength);
      span.setAttribute("messaging.message.id", message.loggableId);
      api.context.with(api.trace.setSpan(parent, span), handler);
      span.end();
      duration.record((performance.now() - started) / 1000, process);
    },
  };
}

/** Registers the SDK globally, for the library to find: its propagator, tracer provider and meter provider (unless left out). */
async function registerSdk({ ratio }) {
  const { api, tracerProvider, propagator, meterProvider } = await sdk(ratio);
  api.propagation.setGlobalPropagator(propagator);
  if (!process.env.BENCH_NO_TRACES) api.trace.setGlobalTracerProvider(tracerProvider);
  if (!process.env.BENCH_NO_METRICS) api.metrics.setGlobalMeterProvider(meterProvider);
}

/**
 * The SDK every SDK contender uses, so that they differ only in who makes the calls: AsyncLocalStorage
 * context (registered, as `context.with` needs it), a tracer provider with a batch span processor
 * (ParentBased(TraceIdRatio) below a ratio of 1, else the default always-on sampler), W3C propagation,
 * and a meter provider with a periodic reader.
 */
async function sdk(ratio) {
  const api = await import("@opentelemetry/api");
  const { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } = await import(
    "@opentelemetry/sdk-trace-base"
  );
  const { AsyncLocalStorageContextManager } = await import("@opentelemetry/context-async-hooks");
  const { W3CTraceContextPropagator } = await import("@opentelemetry/core");
  const { MeterProvider, PeriodicExportingMetricReader, InMemoryMetricExporter, AggregationTemporality } = await import(
    "@opentelemetry/sdk-metrics"
  );
  api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const sampler = ratio === 1 ? undefined : new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
  const reader = new PeriodicExportingMetricReader({
    exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
    exportIntervalMillis: 1000,
  });
  return {
    api,
    tracerProvider: new BasicTracerProvider({
      spanProcessors: [new BatchSpanProcessor(DROP_ALL)],
      ...(sampler ? { sampler } : {}),
    }),
    propagator: new W3CTraceContextPropagator(),
    meterProvider: new MeterProvider({ readers: [reader] }),
  };
}

import { writeFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { describeUrl, ErrorCode, PubSubError, type Subscription, type Topic } from "@portable-pubsub/core/driver";
import { groupedBarSpec, loadVega, machineLine, renderSvg } from "../bench/chart.js";
import { decodeBody, encodeBody, newRunId, type RunId } from "../bench/payload.js";
import { progressFor } from "../bench/progress.js";
import { Tally, type TallySummary } from "../bench/tally.js";
import { openSubscriptionAt, openTopicAt, parseUrl } from "../drivers.js";
import { ExitCode } from "../exit.js";
import { formatMs, formatRate, quantile } from "../format.js";
import { onInterrupt, writeOut } from "../io.js";

export interface BenchOptions {
  count: number;
  size: number;
  concurrency: number;
  /** How long to wait for missing messages once no more arrive, in ms. */
  wait: number;
  json: boolean;
  progress: boolean;
  /** Where to write an SVG chart of the run's send and receive rates; none when undefined. */
  chart?: string | undefined;
}

/** The outcome of a run, as `--json` prints it. */
export interface BenchResult extends TallySummary {
  count: number;
  size: number;
  concurrency: number;
  sendSeconds: number;
  receiveSeconds: number;
  sendRate: number;
  receiveRate: number;
  sendLatencyMs: { p50: number; p99: number };
  endToEndMs: { p50: number; p99: number };
  firstSendError?: string;
}

/**
 * `pubsub bench TOPIC_URL SUBSCRIPTION_URL`: sends `count` numbered messages
 * with `concurrency` senders (each awaiting its send), receives them with
 * `process(…, { concurrency })`, and reports rates, latencies, duplicates and
 * losses. Returns the exit code: messagesLost when confirmed messages never
 * arrived, the first send error's class when sends failed.
 */
export async function bench(topicText: string, subscriptionText: string, options: BenchOptions): Promise<number> {
  const topicUrl = parseUrl(topicText);
  const subscriptionUrl = parseUrl(subscriptionText);
  // Before the run, not after it: a missing chart library must not cost the user a whole run.
  if (options.chart !== undefined) await loadVega();
  using interrupt = onInterrupt();
  // The topic first: on mem:// a subscription needs its topic to exist.
  const topic = await openTopicAt(topicUrl);
  let sub: Subscription;
  try {
    sub = await openSubscriptionAt(subscriptionUrl);
  } catch (err) {
    await topic.shutdown({ signal: AbortSignal.timeout(5000) }).catch(() => {});
    throw err;
  }
  const run = new Run(topic, sub, options, interrupt.signal);
  const result = await run.execute();
  if (options.chart !== undefined) await writeFile(options.chart, await chartOf(result, topicUrl, subscriptionUrl));
  await writeOut(options.json ? `${JSON.stringify(result)}\n` : summaryText(result, topicUrl, subscriptionUrl));
  if (interrupt.signal.aborted) {
    throw new PubSubError(ErrorCode.Canceled, `bench interrupted after ${result.sent} of ${result.count} sends`);
  }
  if (result.lost > 0) return ExitCode.messagesLost;
  if (run.firstSendError) throw run.firstSendError;
  return ExitCode.ok;
}

class Run {
  readonly #topic: Topic;
  readonly #sub: Subscription;
  readonly #options: BenchOptions;
  readonly #interrupt: AbortSignal;
  readonly #runId: RunId = newRunId();
  readonly #tally: Tally;
  readonly #sentAt: Float64Array;
  readonly #sendLatency: number[] = [];
  readonly #endToEnd: number[] = [];
  #next = 0;
  #sentCount = 0;
  #lastArrival = 0;
  firstSendError: unknown;

  constructor(topic: Topic, sub: Subscription, options: BenchOptions, interrupt: AbortSignal) {
    this.#topic = topic;
    this.#sub = sub;
    this.#options = options;
    this.#interrupt = interrupt;
    this.#tally = new Tally(options.count);
    this.#sentAt = new Float64Array(options.count);
  }

  async execute(): Promise<BenchResult> {
    const { count, concurrency, progress: showProgress } = this.#options;
    const progress = progressFor(count, showProgress);
    const ticker = setInterval(() => progress.update(this.#sentCount, this.#tally.unique), 100);
    const start = performance.now();
    const consuming = this.#sub.process((m) => this.#arrived(m.body), { concurrency });
    consuming.catch(() => {});
    let sendSeconds = 0;
    let receiveSeconds = 0;
    try {
      await Promise.all(Array.from({ length: Math.min(concurrency, count) }, () => this.#sender()));
      sendSeconds = (performance.now() - start) / 1000;
      await this.#awaitArrivals(consuming);
      receiveSeconds = ((this.#lastArrival || performance.now()) - start) / 1000;
    } finally {
      clearInterval(ticker);
      progress.update(this.#sentCount, this.#tally.unique);
      progress.stop();
      await Promise.allSettled([
        this.#topic.shutdown({ signal: AbortSignal.timeout(10_000) }),
        this.#sub.shutdown({ signal: AbortSignal.timeout(10_000) }),
      ]);
    }
    const tally = this.#tally.summary();
    const result: BenchResult = {
      count,
      size: this.#options.size,
      concurrency,
      ...tally,
      sendSeconds,
      receiveSeconds,
      sendRate: sendSeconds > 0 ? tally.sent / sendSeconds : 0,
      receiveRate: receiveSeconds > 0 ? tally.received / receiveSeconds : 0,
      sendLatencyMs: { p50: quantile(this.#sendLatency, 0.5), p99: quantile(this.#sendLatency, 0.99) },
      endToEndMs: { p50: quantile(this.#endToEnd, 0.5), p99: quantile(this.#endToEnd, 0.99) },
    };
    if (this.firstSendError !== undefined) {
      result.firstSendError =
        this.firstSendError instanceof Error ? this.firstSendError.message : String(this.firstSendError);
    }
    return result;
  }

  async #sender(): Promise<void> {
    const { count, size } = this.#options;
    while (this.#next < count && !this.#interrupt.aborted) {
      const seq = this.#next++;
      // With an in-process broker every send can complete in microtasks alone; yield now and
      // then so that the progress bar, timers and Ctrl-C get their turn.
      if (seq % 512 === 0) await new Promise((resolve) => setImmediate(resolve));
      const body = encodeBody(this.#runId, seq, size);
      const t0 = performance.now();
      this.#sentAt[seq] = t0;
      try {
        await this.#topic.send({ body }, { signal: this.#interrupt });
        this.#sendLatency.push(performance.now() - t0);
        this.#tally.confirmed(seq);
      } catch (err) {
        this.firstSendError ??= err;
        this.#tally.failed();
      }
      this.#sentCount++;
    }
  }

  #arrived(body: Uint8Array): void {
    const decoded = decodeBody(this.#runId, body);
    if (decoded.kind === "foreign") {
      this.#tally.foreign();
      return;
    }
    const now = performance.now();
    const isNew = this.#tally.unique;
    this.#tally.received(decoded.seq, decoded.intact);
    if (this.#tally.unique > isNew) {
      this.#lastArrival = now;
      this.#endToEnd.push(now - (this.#sentAt[decoded.seq] ?? now));
    }
  }

  /** Waits until every confirmed message arrived, or none arrived for `wait` ms, or the consumer failed. */
  async #awaitArrivals(consuming: Promise<void>): Promise<void> {
    let failure: unknown;
    consuming.catch((err: unknown) => {
      failure = err;
    });
    let lastUnique = -1;
    let lastProgress = performance.now();
    while (!this.#tally.complete) {
      if (failure !== undefined) throw failure;
      // Once interrupted, give messages in flight a moment only, so that the partial summary is still true.
      const patience = this.#interrupt.aborted ? Math.min(1000, this.#options.wait) : this.#options.wait;
      if (this.#tally.unique !== lastUnique) {
        lastUnique = this.#tally.unique;
        lastProgress = performance.now();
      } else if (performance.now() - lastProgress >= patience) {
        return;
      }
      await sleep(20);
    }
  }
}

/** The run's send and receive rates as grouped bars (the chart `pnpm bench --report` draws per driver), as SVG. */
function chartOf(r: BenchResult, topicUrl: URL, subscriptionUrl: URL): Promise<string> {
  const group = `${topicUrl.protocol}//`;
  const bars = [
    { group, contender: "sent", value: Math.round(r.sendRate), label: `${formatRate(r.sendRate)}\nmsgs/s` },
    { group, contender: "received", value: Math.round(r.receiveRate), label: `${formatRate(r.receiveRate)}\nmsgs/s` },
  ];
  const title = `pubsub bench: ${describeUrl(topicUrl)} to ${describeUrl(subscriptionUrl)}`;
  const subtitle = `${r.count} messages of ${r.size} bytes, concurrency ${r.concurrency}; ${machineLine()}`;
  return renderSvg(groupedBarSpec(bars, { title, subtitle, yTitle: "msgs/s" }));
}

function summaryText(r: BenchResult, topicUrl: URL, subscriptionUrl: URL): string {
  const lines = [
    `bench: ${r.count} messages of ${r.size} bytes, concurrency ${r.concurrency}`,
    `  from ${describeUrl(topicUrl)} to ${describeUrl(subscriptionUrl)}`,
    `sent        ${r.sent} in ${r.sendSeconds.toFixed(2)} s: ${formatRate(r.sendRate)} msgs/s` +
      ` (send latency p50 ${formatMs(r.sendLatencyMs.p50)}, p99 ${formatMs(r.sendLatencyMs.p99)})`,
    `received    ${r.received} in ${r.receiveSeconds.toFixed(2)} s: ${formatRate(r.receiveRate)} msgs/s` +
      ` (end to end p50 ${formatMs(r.endToEndMs.p50)}, p99 ${formatMs(r.endToEndMs.p99)})`,
    `duplicates  ${r.duplicates}`,
    `lost        ${r.lost}`,
  ];
  if (r.failedSends > 0) lines.push(`failed      ${r.failedSends} sends (first: ${r.firstSendError})`);
  if (r.corrupt > 0) lines.push(`corrupt     ${r.corrupt} bodies arrived changed`);
  if (r.foreign > 0) lines.push(`foreign     ${r.foreign} messages of other runs were acked and ignored`);
  return `${lines.join("\n")}\n`;
}

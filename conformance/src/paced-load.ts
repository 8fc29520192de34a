/**
 * Paced load for failover tests: sends at a fixed rate, each one not awaited
 * by the pacer (as an application's requests come), and a process()
 * consumer counting deliveries per body. What a test then asserts differs
 * (every send arrives; or acknowledged sends that never arrived are counted
 * as lost), so the waiting is in steps the test calls in order.
 */
import type { Subscription, Topic } from "@portable-pubsub/core";
import { until } from "./test-kit.js";

/** What a {@link PacedLoad} saw once its sends settled. */
export interface PacedLoadResult {
  /** Sends made; their bodies are "0" … `total - 1`. */
  readonly total: number;
  /** How long the pacer sent, in ms. */
  readonly sendingMs: number;
  /** What the sends that rejected rejected with. */
  readonly failures: readonly unknown[];
  /** The body numbers of the sends that resolved. */
  readonly acked: ReadonlySet<number>;
}

/**
 * `rate` sends a second through `topic` (bodies "0", "1", …) and a
 * process() consumer on `subscription` (concurrency 16) that counts the
 * deliveries of each body. Starts at once.
 */
export class PacedLoad {
  /** How the process() call ended, once the test shut the subscription down: "resolved" or "rejected: …". */
  readonly processed: Promise<string>;
  readonly #sends: Promise<void>[] = [];
  readonly #failures: unknown[] = [];
  readonly #acked = new Set<number>();
  readonly #counts = new Map<number, number>();
  /** When each send was made, when each that resolved did, and when each body first arrived (Date.now()). */
  readonly #madeAt: number[] = [];
  readonly #resolvedAt: number[] = [];
  readonly #arrivedAt = new Map<number, number>();
  readonly #begun = Date.now();
  readonly #pacer: ReturnType<typeof setInterval>;
  #deliveries = 0;
  #settled = 0;

  constructor(topic: Topic, subscription: Subscription, rate: number) {
    this.processed = subscription
      .process(
        (m) => {
          const i = Number(m.text());
          this.#deliveries++;
          if (!this.#arrivedAt.has(i)) this.#arrivedAt.set(i, Date.now());
          this.#counts.set(i, (this.#counts.get(i) ?? 0) + 1);
        },
        { concurrency: 16 },
      )
      .then(
        () => "resolved",
        (err: unknown) => `rejected: ${String(err)}`,
      );
    this.#pacer = setInterval(() => {
      const due = Math.floor(((Date.now() - this.#begun) * rate) / 1000);
      while (this.#sends.length < due) {
        const i = this.#sends.length;
        this.#madeAt.push(Date.now());
        const send = topic.send({ body: String(i) }).then(
          () => {
            this.#acked.add(i);
            this.#resolvedAt[i] = Date.now();
          },
          (err: unknown) => {
            this.#failures.push(err);
          },
        );
        this.#sends.push(send.finally(() => this.#settled++));
      }
    }, 20);
  }

  /** Sends made so far. */
  get sent(): number {
    return this.#sends.length;
  }

  /** Distinct bodies delivered so far. */
  get distinct(): number {
    return this.#counts.size;
  }

  /** Deliveries beyond the first of a body, so far. */
  get duplicates(): number {
    return this.#deliveries - this.#counts.size;
  }

  /**
   * How long after `since` (a Date.now(), such as when a broker was killed)
   * the load was served again: ms to the first resolution of a send made at
   * or after `since`, and to the first arrival of such a send. Each is
   * undefined until it happened.
   */
  recoveryAfter(since: number): { sendMs?: number; receiveMs?: number } {
    let sendMs: number | undefined;
    let receiveMs: number | undefined;
    for (let i = this.#madeAt.findIndex((t) => t >= since); i >= 0 && i < this.#madeAt.length; i++) {
      const resolved = this.#resolvedAt[i];
      const arrived = this.#arrivedAt.get(i);
      if (resolved !== undefined) sendMs = Math.min(sendMs ?? Number.POSITIVE_INFINITY, resolved - since);
      if (arrived !== undefined) receiveMs = Math.min(receiveMs ?? Number.POSITIVE_INFINITY, arrived - since);
    }
    return { sendMs, receiveMs };
  }

  /** Stops sending (after a failure; `settle` stops it too). */
  stop(): void {
    clearInterval(this.#pacer);
  }

  /** Stops sending once at least `atLeast` were sent, then waits (up to 120 s each) for every send to settle. */
  async settle(atLeast: number): Promise<PacedLoadResult> {
    await until(
      () => this.#sends.length >= atLeast,
      120_000,
      () => `${atLeast} paced sends (${this.#sends.length} made)`,
    );
    this.stop();
    const total = this.#sends.length;
    const sendingMs = Date.now() - this.#begun;
    await until(
      () => this.#settled === total,
      120_000,
      () => `all ${total} sends to settle (${this.#settled} did)`,
    );
    return { total, sendingMs, failures: this.#failures, acked: this.#acked };
  }

  /** Waits up to `ms` for every body below `total` to arrive; the error names the missing ones, as ranges. */
  async allArrived(total: number, ms = 60_000): Promise<void> {
    await until(
      () => this.#counts.size >= total,
      ms,
      () => `receiving ${total} messages (${this.#counts.size} arrived); missing: ${this.missingRanges(total)}`,
    );
  }

  /**
   * Waits until every acknowledged send arrived, or deliveries stopped for
   * `quietMs` (some never will: the test counts them as lost); returns the
   * acknowledged body numbers that never arrived, in order.
   */
  async lostOf(acked: ReadonlySet<number>, quietMs = 5000, ms = 90_000): Promise<number[]> {
    let last = -1;
    let since = Date.now();
    await until(
      () => {
        if ([...acked].every((i) => this.#counts.has(i))) return true;
        if (this.#deliveries !== last) {
          last = this.#deliveries;
          since = Date.now();
        }
        return Date.now() - since > quietMs;
      },
      ms,
      () => "deliveries to arrive or stop",
    );
    return [...acked].filter((i) => !this.#counts.has(i)).sort((a, b) => a - b);
  }

  /** The body numbers below `total` never delivered, as ranges ("12–40, 97"), for a failure's message. */
  missingRanges(total: number): string {
    const ranges: string[] = [];
    for (let i = 0; i < total; i++) {
      if (this.#counts.has(i)) continue;
      let j = i;
      while (j + 1 < total && !this.#counts.has(j + 1)) j++;
      ranges.push(i === j ? String(i) : `${i}–${j}`);
      i = j;
    }
    return ranges.slice(0, 20).join(", ") + (ranges.length > 20 ? ` and ${ranges.length - 20} more ranges` : "");
  }
}

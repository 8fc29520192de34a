import { setTimeout as sleep } from "node:timers/promises";
import type { MessageOf, ProcessContext, Subscription } from "@portable-pubsub/core";
import type { Logger } from "./log.js";
import type { Order, OrderSchema } from "./orders.js";
import { activeTraceId } from "./tracing.js";

/** Counters of the consumer, for /stats and the self-test. */
export interface ProcessorStats {
  /** Distinct orders processed. */
  processed: number;
  /** Deliveries of an order already processed (at-least-once delivery redelivers after a cut). */
  duplicates: number;
  /** Handlers running now. */
  inFlight: number;
}

/**
 * Charges an order in the handler's transaction (`ctx.tx` of the PostgreSQL
 * inbox): see charges.ts. Throws to fail the delivery (it is redelivered).
 */
export type ChargeOrder = (order: Order, ctx: ProcessContext) => Promise<void>;

/**
 * The background consumer: `sub.process(handler, { concurrency })`, with a
 * handler that is idempotent by order id, because delivery is at-least-once.
 * With a database, the subscription also has the PostgreSQL inbox, and the
 * handler charges the order through it, once across every process.
 */
export class OrderProcessor {
  readonly #sub: Subscription<typeof OrderSchema>;
  readonly #log: Logger;
  readonly #delayMs: number;
  readonly #charge: ChargeOrder | undefined;
  /** Orders being handled or done: a second delivery of one of these is a duplicate. */
  readonly #claimed = new Set<string>();
  readonly #done = new Set<string>();
  readonly #stats: ProcessorStats = { processed: 0, duplicates: 0, inFlight: 0 };
  #lastActivity = Date.now();
  #running: Promise<void> | undefined;
  #failure: Error | undefined;

  constructor(sub: Subscription<typeof OrderSchema>, log: Logger, delayMs: number, charge?: ChargeOrder) {
    this.#sub = sub;
    this.#log = log;
    this.#delayMs = delayMs;
    this.#charge = charge;
  }

  /** Starts processing with `concurrency` handlers at once. */
  start(concurrency: number): void {
    this.#running = this.#sub
      .process((message, ctx) => this.#handle(message, ctx), {
        concurrency,
        onHandlerError: (err, message) =>
          this.#log.error("order handler failed; the message is redelivered, or dead-lettered after its last attempt", {
            err,
            loggableId: message.loggableId,
            attempt: message.deliveryAttempt,
          }),
      })
      .catch((err: unknown) => {
        this.#failure = err instanceof Error ? err : new Error(String(err));
        this.#log.error("the consumer stopped: receiving failed for good", { err: this.#failure });
      });
  }

  get stats(): Readonly<ProcessorStats> {
    return { ...this.#stats };
  }

  /** Set when receiving failed for good; /health then reports 503. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** True if order `id` has been processed. */
  hasProcessed(id: string): boolean {
    return this.#done.has(id);
  }

  /**
   * Keeps consuming until nothing has arrived for `idleMs` and no handler
   * runs, or `signal` fires: what is already queued gets processed before
   * shutdown (on mem:// it would otherwise be lost with the process).
   */
  async drain(idleMs: number, signal: AbortSignal): Promise<void> {
    while (!signal.aborted && this.#failure === undefined) {
      if (this.#stats.inFlight === 0 && Date.now() - this.#lastActivity >= idleMs) return;
      await sleep(Math.min(50, idleMs), undefined, { signal }).catch(() => {});
    }
  }

  /** Waits until `process` has returned (after the subscription's shutdown). */
  async stopped(): Promise<void> {
    await this.#running;
  }

  async #handle(message: MessageOf<typeof OrderSchema>, ctx: ProcessContext): Promise<void> {
    this.#stats.inFlight++;
    this.#lastActivity = Date.now();
    try {
      // Checked by OrderSchema before this handler runs: an invalid order went to the dead-letter topic instead.
      const order = message.data;
      // With the inbox, the library runs this handler once per order across every process, and only its record
      // counts: this process's memory would also skip the rerun of a charge whose commit failed after the handler.
      const inMemory = this.#charge === undefined;
      if (inMemory && this.#claimed.has(order.id)) {
        this.#stats.duplicates++;
        this.#log.info("order already processed; duplicate delivery acked", { orderId: order.id });
        return;
      }
      // Claimed before the work: a redelivery (after a cut) can arrive while the first delivery is still being handled.
      if (inMemory) this.#claimed.add(order.id);
      try {
        // The charge first, then the rest of the work: a crash during that work must not leave a charge behind.
        await this.#charge?.(order, ctx);
        if (this.#delayMs > 0) await sleep(this.#delayMs);
      } catch (err) {
        this.#claimed.delete(order.id);
        throw err;
      }
      this.#done.add(order.id);
      this.#stats.processed++;
      this.#log.info("order processed", {
        orderId: order.id,
        item: order.item,
        attempt: message.deliveryAttempt,
        charged: this.#charge !== undefined,
        traceId: activeTraceId(),
      });
    } finally {
      this.#stats.inFlight--;
      this.#lastActivity = Date.now();
    }
  }
}

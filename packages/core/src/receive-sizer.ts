/**
 * Sizes receive batches from the observed processing rate, as the Go CDK's
 * pubsub.go does: aim for a buffer that takes about `desiredQueueSeconds` to
 * drain, so fast consumers get big batches and slow ones do not sit on
 * messages whose ack deadline is running. Each step moves halfway to the
 * ideal size, growing at most 2x and shrinking at most to 0.75x.
 */
export class ReceiveSizer {
  static readonly desiredQueueSeconds = 2;
  /** Fetch ahead when the buffer holds less than this share of a batch: it may run dry before a fetch returns. */
  static readonly prefetchRatio = 0.5;
  static readonly decay = 0.5;
  static readonly maxGrowth = 2;
  static readonly maxShrink = 0.75;
  /** Shorter measurements are stretched to this, so one quick burst does not read as a huge rate. */
  static readonly minWindowMs = 10;

  readonly #max: number;
  #running = 1;
  #windowStart = 0;
  #count = 0;

  constructor(maxBatchSize: number) {
    this.#max = maxBatchSize;
  }

  /** Records that `n` messages were handed to the application. */
  delivered(n: number): void {
    this.#count += n;
  }

  /** The size of the next receive batch, between 1 and the maximum. */
  nextBatchSize(): number {
    const now = performance.now();
    if (this.#windowStart !== 0) {
      const elapsed = Math.max(ReceiveSizer.minWindowMs, now - this.#windowStart);
      const ideal = ((this.#count * 1000) / elapsed) * ReceiveSizer.desiredQueueSeconds;
      const next = (1 - ReceiveSizer.decay) * this.#running + ReceiveSizer.decay * ideal;
      this.#running = Math.min(
        Math.max(next, this.#running * ReceiveSizer.maxShrink),
        this.#running * ReceiveSizer.maxGrowth,
      );
    }
    this.#windowStart = now;
    this.#count = 0;
    return Math.max(1, Math.min(this.#max, Math.ceil(this.#running)));
  }

  /** Below this many buffered messages, the next batch is fetched ahead of demand. */
  lowWater(): number {
    return Math.floor(Math.min(this.#max, this.#running) * ReceiveSizer.prefetchRatio);
  }
}

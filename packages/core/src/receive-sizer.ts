/**
 * Sizes receive batches from the observed processing rate, as the Go CDK's
 * pubsub.go does: aim for a buffer that takes about `desiredQueueSeconds` to
 * drain, so fast consumers get big batches and slow ones do not sit on
 * messages whose ack deadline is running.
 */
export class ReceiveSizer {
  static readonly desiredQueueSeconds = 2;
  static readonly decay = 0.5;
  static readonly windowMs = 10;

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
    if (this.#windowStart === 0) {
      this.#windowStart = now;
    } else {
      const elapsed = now - this.#windowStart;
      if (elapsed >= ReceiveSizer.windowMs) {
        const perSecond = (this.#count * 1000) / elapsed;
        const target = perSecond * ReceiveSizer.desiredQueueSeconds;
        this.#running = (1 - ReceiveSizer.decay) * this.#running + ReceiveSizer.decay * target;
        this.#windowStart = now;
        this.#count = 0;
      }
    }
    return Math.max(1, Math.min(this.#max, Math.ceil(this.#running)));
  }

  /** Below this many buffered messages, the next batch is fetched ahead of demand. */
  lowWater(): number {
    return Math.floor(Math.min(this.#max, this.#running) / 2);
  }
}

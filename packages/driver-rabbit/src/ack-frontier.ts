/**
 * Coalesces the acks of one channel: acks that complete a run from the
 * lowest unsettled delivery tag go as one basic.ack with `multiple`, which
 * acks every outstanding delivery up to its tag. That is one frame instead
 * of hundreds, for the client and for the broker. `multiple` must never
 * reach a delivery that is still pending (in a handler, or failed and
 * waiting for its copy's confirm), so the run only grows over tags settled
 * here: acked, or nacked (a nacked delivery is no longer outstanding, so a
 * later `multiple` passes over it harmlessly, as long as the ack's own tag is
 * one being acked now).
 */
export class AckFrontier {
  #generation = -1;
  /** The lowest delivery tag of the channel not settled yet: tags start at 1 on each channel. */
  #next = 1;
  /** Settled tags above `#next`, waiting for the run to reach them. */
  readonly #above = new Set<number>();
  /** Set when `#above` grew past its bound (a delivery held for long): acks go one by one until the next channel. */
  #frozen = false;

  /**
   * Records `tags` of channel `generation` as settled. For acks, returns the
   * tag to ack with `multiple` (undefined if none) and the tags to ack one
   * by one; nacks are always sent one by one.
   */
  settle(generation: number, tags: readonly number[]): { upTo: number | undefined; single: number[] } {
    if (generation !== this.#generation) this.#reset(generation);
    if (this.#frozen) return { upTo: undefined, single: [...tags] };
    const start = this.#next;
    const above = this.#above;
    for (const tag of tags) {
      if (tag === this.#next) {
        this.#next++;
        while (above.size > 0 && above.delete(this.#next)) this.#next++;
      } else if (tag > this.#next) {
        above.add(tag);
      }
    }
    // The multiple ack names the highest tag of this call below the run's end: RabbitMQ refuses (406, closing
    // the channel) a multiple ack whose own tag is no longer outstanding, such as one nacked already.
    const next = this.#next;
    let upTo: number | undefined;
    const single: number[] = [];
    for (const tag of tags) {
      if (tag >= next) single.push(tag);
      else if (tag >= start && (upTo === undefined || tag > upTo)) upTo = tag;
    }
    if (above.size > MAX_ABOVE) {
      above.clear();
      this.#frozen = true;
    }
    return { upTo, single };
  }

  #reset(generation: number): void {
    this.#generation = generation;
    this.#next = 1;
    this.#above.clear();
    this.#frozen = false;
  }
}

/** Most settled tags kept above the lowest unsettled one. */
const MAX_ABOVE = 10_000;

/**
 * Counts what a bench run received against what it sent: unique messages,
 * duplicates (at-least-once delivery may redeliver), losses (confirmed by the
 * broker, never received), corrupt bodies, and messages of other runs.
 */
export class Tally {
  readonly #total: number;
  readonly #seen: Uint8Array;
  readonly #confirmed: Uint8Array;
  #unique = 0;
  #duplicates = 0;
  #corrupt = 0;
  #foreign = 0;
  #outOfRange = 0;
  #confirmedCount = 0;
  #failedSends = 0;

  constructor(total: number) {
    this.#total = total;
    this.#seen = new Uint8Array(total);
    this.#confirmed = new Uint8Array(total);
  }

  /** The broker confirmed message `seq`. */
  confirmed(seq: number): void {
    if (this.#confirmed[seq] === 1) return;
    this.#confirmed[seq] = 1;
    this.#confirmedCount++;
  }

  /** Sending message `seq` failed: it is not expected to arrive (though it may). */
  failed(): void {
    this.#failedSends++;
  }

  /** Message `seq` of this run arrived; `intact` tells whether its bytes were unchanged. */
  received(seq: number, intact: boolean): void {
    if (!intact) this.#corrupt++;
    if (!Number.isInteger(seq) || seq < 0 || seq >= this.#total) {
      this.#outOfRange++;
      return;
    }
    if (this.#seen[seq] === 1) {
      this.#duplicates++;
      return;
    }
    this.#seen[seq] = 1;
    this.#unique++;
  }

  /** A message that is not from this run arrived (left in the queue by someone else). */
  foreign(): void {
    this.#foreign++;
  }

  /** True once every confirmed message has arrived. */
  get complete(): boolean {
    return this.lost === 0;
  }

  get unique(): number {
    return this.#unique;
  }

  /** Confirmed messages that have not arrived. */
  get lost(): number {
    let lost = 0;
    for (let seq = 0; seq < this.#total; seq++) if (this.#confirmed[seq] === 1 && this.#seen[seq] === 0) lost++;
    return lost;
  }

  summary(): TallySummary {
    return {
      sent: this.#confirmedCount,
      failedSends: this.#failedSends,
      received: this.#unique,
      duplicates: this.#duplicates,
      lost: this.lost,
      corrupt: this.#corrupt + this.#outOfRange,
      foreign: this.#foreign,
    };
  }
}

export interface TallySummary {
  /** Messages the broker confirmed. */
  sent: number;
  failedSends: number;
  /** Distinct messages of this run received. */
  received: number;
  duplicates: number;
  lost: number;
  /** Bodies whose bytes changed on the way, or whose sequence number is impossible. */
  corrupt: number;
  /** Messages of other runs, ignored (acked). */
  foreign: number;
}

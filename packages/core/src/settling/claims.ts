/**
 * The idempotent consumer's record of its claims: which messages it handed
 * out under a claim, and the keeping of those claims' leases while their
 * handlers run.
 */
import type { DriverMessage } from "../driver/driver.js";
import { MAX_TIMER_MS } from "../driver/timers.js";

const CLAIMED_BY = Symbol("claimedBy");
const CLAIMED_ID = Symbol("claimedId");
type Carrier = DriverMessage & { [CLAIMED_BY]?: ClaimedIds | undefined; [CLAIMED_ID]?: string | undefined };

/**
 * Which messages were handed out under a claim, and the id claimed: kept in
 * slots of the driver's message object, with the consumer that claimed it. A
 * Map keyed by message cost four hash operations per message, a fifth of the
 * idempotent consumer's own time on mem://. The owner is kept because a
 * broker may hand one message object to a second consumer of the
 * subscription once the first's ack deadline passed; the second can claim
 * it only after the first's lease expired, and then the later claim holds.
 */
export class ClaimedIds {
  /** How many messages this consumer holds a claim on. */
  size = 0;

  has(message: DriverMessage): boolean {
    return (message as Carrier)[CLAIMED_BY] === this;
  }

  get(message: DriverMessage): string | undefined {
    const carrier = message as Carrier;
    return carrier[CLAIMED_BY] === this ? carrier[CLAIMED_ID] : undefined;
  }

  set(message: DriverMessage, id: string): void {
    const carrier = message as Carrier;
    if (carrier[CLAIMED_BY] !== this) this.size++;
    carrier[CLAIMED_BY] = this;
    carrier[CLAIMED_ID] = id;
  }

  delete(message: DriverMessage): void {
    const carrier = message as Carrier;
    if (carrier[CLAIMED_BY] !== this) return;
    this.size--;
    carrier[CLAIMED_BY] = undefined;
    carrier[CLAIMED_ID] = undefined;
  }
}

/**
 * Extends the leases of the claims whose handlers still run, every third of
 * the lease, so that a slow handler keeps its claim. A claim is extended
 * from the second tick after it was made on: between one and two thirds of
 * its lease in. Claims are kept in two arrays, pushed to and filtered once a
 * tick, not in a Map updated per message: a message costs one push. The
 * arrays are filtered early when mostly settled, so they stay within twice
 * the claims held.
 */
export class ClaimLeaseKeeper {
  readonly #claimed: ClaimedIds;
  readonly #periodMs: number;
  readonly #extend: (ids: string[]) => Promise<void>;
  /** Claimed since the last tick: not due yet. */
  #recent: DriverMessage[] = [];
  /** Claimed before the last tick (or extended since): extended at the next tick if still claimed. */
  #due: DriverMessage[] = [];
  #timer: NodeJS.Timeout | undefined;
  #extending = false;
  #stopped = false;

  /** `extend` must not reject: it logs what fails. */
  constructor(claimed: ClaimedIds, leaseMs: number, extend: (ids: string[]) => Promise<void>) {
    this.#claimed = claimed;
    this.#periodMs = Math.min(Math.max(1, Math.floor(leaseMs / 3)), MAX_TIMER_MS);
    this.#extend = extend;
  }

  /** Starts keeping the claim on `message`, just made. */
  add(message: DriverMessage): void {
    if (this.#stopped) return;
    this.#recent.push(message);
    if (this.#recent.length > 2 * this.#claimed.size + 1024) this.#recent = this.#recent.filter(this.#isClaimed);
    this.#timer ??= setInterval(() => this.#tick(), this.#periodMs).unref();
  }

  /** Stops the ticks for good (the Subscription shut down). */
  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#recent = [];
    this.#due = [];
  }

  #isClaimed = (message: DriverMessage): boolean => this.#claimed.has(message);

  #tick(): void {
    const due = this.#due.filter(this.#isClaimed);
    this.#due = due.concat(this.#recent.filter(this.#isClaimed));
    this.#recent = [];
    if (this.#due.length === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    // One extension at a time: a slow store must not pile calls up; the next tick covers what this one skipped.
    if (due.length === 0 || this.#extending) return;
    this.#extending = true;
    const ids = due.map((message) => this.#claimed.get(message) as string);
    void this.#extend(ids).finally(() => {
      this.#extending = false;
    });
  }
}

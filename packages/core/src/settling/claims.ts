import type { DriverMessage } from "../driver/driver.js";
import type { HeldLeases } from "../driver/held-leases.js";

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
 * With `leases`, each claim's lease is kept while it is held (a store that
 * can extend one).
 */
export class ClaimedIds {
  readonly #leases: HeldLeases<DriverMessage> | undefined;

  constructor(leases?: HeldLeases<DriverMessage>) {
    this.#leases = leases;
  }

  has(message: DriverMessage): boolean {
    return (message as Carrier)[CLAIMED_BY] === this;
  }

  get(message: DriverMessage): string | undefined {
    const carrier = message as Carrier;
    return carrier[CLAIMED_BY] === this ? carrier[CLAIMED_ID] : undefined;
  }

  set(message: DriverMessage, id: string): void {
    const carrier = message as Carrier;
    carrier[CLAIMED_BY] = this;
    carrier[CLAIMED_ID] = id;
    this.#leases?.hold(message);
  }

  delete(message: DriverMessage): void {
    const carrier = message as Carrier;
    if (carrier[CLAIMED_BY] !== this) return;
    carrier[CLAIMED_BY] = undefined;
    carrier[CLAIMED_ID] = undefined;
    this.#leases?.release(message);
  }
}

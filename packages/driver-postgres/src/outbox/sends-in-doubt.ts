/**
 * The sends a relay stopped waiting for at `sendTimeoutMs` that its topic
 * still holds. A driver waiting for its broker keeps a message it was given
 * and sends it once the broker is back, so sending the row again at each
 * retry of a long outage would send it once per retry. Instead a row whose
 * earlier send is still pending waits, a row whose earlier send resolved
 * meanwhile is deleted without another, and only a row whose earlier send
 * failed is sent again.
 */

/** What a claimed row needs: a send, nothing but its delete (sent already), or to wait for the send in doubt. */
export type RowNeed = "send" | "sent" | "wait";

/** Settled entries older than this are dropped: their rows were settled by another relay, or will be sent anew. */
const FORGET_AFTER_MS = 10 * 60_000;

export class SendsInDoubt {
  readonly #sends = new Map<string, { state: "pending" | "sent" | "failed"; settledAt: number }>();

  /** Remembers `send` of row `rowId`, which the relay stopped waiting for. */
  track(rowId: string, send: Promise<unknown>): void {
    const entry: { state: "pending" | "sent" | "failed"; settledAt: number } = { state: "pending", settledAt: 0 };
    this.#sends.set(rowId, entry);
    send.then(
      () => {
        entry.state = "sent";
        entry.settledAt = Date.now();
      },
      () => {
        entry.state = "failed";
        entry.settledAt = Date.now();
      },
    );
  }

  /** What claimed row `rowId` needs now; a settled entry is forgotten once read. */
  need(rowId: string): RowNeed {
    const entry = this.#sends.get(rowId);
    if (entry === undefined) return "send";
    if (entry.state === "pending") return "wait";
    this.#sends.delete(rowId);
    return entry.state === "sent" ? "sent" : "send";
  }

  /** Drops settled entries that no claim read for a long time. */
  prune(now = Date.now()): void {
    for (const [rowId, entry] of this.#sends) {
      if (entry.state !== "pending" && now - entry.settledAt > FORGET_AFTER_MS) this.#sends.delete(rowId);
    }
  }

  get size(): number {
    return this.#sends.size;
  }
}

/**
 * Waits until every one of `sends` settled or `signal` fired; returns each
 * one's outcome, undefined for those still pending then.
 */
export async function settleWithin(
  sends: readonly Promise<unknown>[],
  signal: AbortSignal,
): Promise<(PromiseSettledResult<unknown> | undefined)[]> {
  const outcomes: (PromiseSettledResult<unknown> | undefined)[] = sends.map(() => undefined);
  const all = Promise.all(
    sends.map((send, i) =>
      send.then(
        (value) => {
          outcomes[i] = { status: "fulfilled", value };
        },
        (reason: unknown) => {
          outcomes[i] = { status: "rejected", reason };
        },
      ),
    ),
  );
  if (!signal.aborted) {
    let onAbort = () => {};
    const aborted = new Promise<void>((resolve) => {
      onAbort = () => resolve();
      signal.addEventListener("abort", onAbort);
    });
    await Promise.race([all, aborted]);
    signal.removeEventListener("abort", onAbort);
  }
  return outcomes;
}

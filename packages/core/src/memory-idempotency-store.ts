import type {
  ClaimOptions,
  ClaimOutcome,
  CompleteOptions,
  IdempotencyStore,
  ReleaseOptions,
} from "./driver/idempotency.js";
import { invalidArgument } from "./errors.js";

/** Options of {@link memoryIdempotencyStore}. */
export interface MemoryIdempotencyStoreOptions {
  /**
   * The most ids kept (claims and done-marks together). Past it, the oldest
   * entries (by their last claim or completion) are evicted first: a
   * duplicate of an evicted done id runs its handler again, and a claim
   * evicted while its handler runs lets a copy run at the same time. Size it
   * above the ids your subscriptions see in `windowMs`. Default 100,000.
   */
  maxEntries?: number;
}

interface Entry {
  done: boolean;
  owner: string;
  /** When the claim's lease or the done-mark's window ends, in ms since the epoch. */
  expiresAt: number;
}

const DEFAULT_MAX_ENTRIES = 100_000;

/**
 * An idempotency store in this process's memory, for the `idempotency`
 * subscription option: it deduplicates between the subscriptions of one
 * process only, and forgets everything when the process ends, so a
 * redelivery after a restart runs its handler again. Use the Redis or
 * PostgreSQL store where several processes consume, or across restarts.
 * Bounded by `maxEntries` (oldest evicted first).
 */
export function memoryIdempotencyStore(options: MemoryIdempotencyStoreOptions = {}): IdempotencyStore {
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
    throw invalidArgument(
      `memoryIdempotencyStore: maxEntries must be a whole number of at least 1, got ${String(maxEntries)}`,
    );
  }
  return new MemoryIdempotencyStore(maxEntries);
}

class MemoryIdempotencyStore implements IdempotencyStore {
  readonly #maxEntries: number;
  /** In the order of their last write, oldest first: a Map iterates in insertion order. */
  readonly #entries = new Map<string, Entry>();

  constructor(maxEntries: number) {
    this.#maxEntries = maxEntries;
  }

  claim(ids: readonly string[], o: ClaimOptions): Promise<ClaimOutcome[]> {
    const now = Date.now();
    this.#sweep(now);
    const outcomes = ids.map((id): ClaimOutcome => {
      const entry = this.#entries.get(id);
      if (entry && entry.expiresAt > now) return entry.done ? "done" : "running";
      this.#write(id, { done: false, owner: o.owner, expiresAt: now + o.leaseMs });
      return "claimed";
    });
    return Promise.resolve(outcomes);
  }

  complete(ids: readonly string[], o: CompleteOptions): Promise<void> {
    const now = Date.now();
    for (const id of ids) {
      const entry = this.#entries.get(id);
      const free = !entry || entry.expiresAt <= now;
      if (free || (!entry.done && entry.owner === o.owner)) {
        this.#write(id, { done: true, owner: o.owner, expiresAt: now + o.windowMs });
      }
    }
    return Promise.resolve();
  }

  release(ids: readonly string[], o: ReleaseOptions): Promise<void> {
    for (const id of ids) {
      const entry = this.#entries.get(id);
      if (entry && !entry.done && entry.owner === o.owner) this.#entries.delete(id);
    }
    return Promise.resolve();
  }

  /** Writes an entry as the newest, evicting the oldest ones past the bound. */
  #write(id: string, entry: Entry): void {
    const entries = this.#entries;
    entries.delete(id);
    entries.set(id, entry);
    if (entries.size <= this.#maxEntries) return;
    for (const oldest of entries.keys()) {
      entries.delete(oldest);
      if (entries.size <= this.#maxEntries) return;
    }
  }

  /** Drops expired entries from the oldest end, as far as they run; the bound caps what stays. */
  #sweep(now: number): void {
    for (const [id, entry] of this.#entries) {
      if (entry.expiresAt > now) return;
      this.#entries.delete(id);
    }
  }
}

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
   * entries (by when their id was claimed) are evicted first: a
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
  /** Which write of the id this is: a record of an earlier one in the age queue is stale. */
  seq: number;
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

/**
 * Entries by id, and their age order in a queue of (id, seq) records of its
 * own: iterating a large Map from its start after many deletions costs more
 * with each deletion, which at a hundred thousand messages a second shows.
 * An id's age is that of its first claim since it was last free: completing
 * a claim keeps its place.
 */
class MemoryIdempotencyStore implements IdempotencyStore {
  readonly #maxEntries: number;
  readonly #entries = new Map<string, Entry>();
  #queueIds: string[] = [];
  #queueSeqs: number[] = [];
  #head = 0;
  #seq = 0;

  constructor(maxEntries: number) {
    this.#maxEntries = maxEntries;
  }

  claim(ids: readonly string[], o: ClaimOptions): Promise<ClaimOutcome[]> {
    const now = Date.now();
    this.#sweep(now);
    const outcomes = ids.map((id): ClaimOutcome => {
      const entry = this.#entries.get(id);
      if (entry && entry.expiresAt > now) return entry.done ? "done" : "running";
      this.#insert(id, entry !== undefined, false, o.owner, now + o.leaseMs);
      return "claimed";
    });
    return Promise.resolve(outcomes);
  }

  complete(ids: readonly string[], o: CompleteOptions): Promise<void> {
    const now = Date.now();
    for (const id of ids) {
      const entry = this.#entries.get(id);
      if (!entry || entry.expiresAt <= now) this.#insert(id, entry !== undefined, true, o.owner, now + o.windowMs);
      else if (!entry.done && entry.owner === o.owner) {
        entry.done = true;
        entry.expiresAt = now + o.windowMs;
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

  /** Adds an entry as the newest, evicting the oldest ones past the bound; `expired`: one is there, expired. */
  #insert(id: string, expired: boolean, done: boolean, owner: string, expiresAt: number): void {
    const seq = ++this.#seq;
    // Deleted first, so that the Map's order stays the queue's (a set would keep an expired entry's place).
    if (expired) this.#entries.delete(id);
    this.#entries.set(id, { done, owner, expiresAt, seq });
    this.#queueIds.push(id);
    this.#queueSeqs.push(seq);
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#oldest();
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
    this.#compact();
  }

  /** Drops expired entries from the oldest end, as far as they run; the bound caps what stays. */
  #sweep(now: number): void {
    for (;;) {
      const id = this.#peek();
      if (id === undefined || (this.#entries.get(id) as Entry).expiresAt > now) return;
      this.#entries.delete(id);
      this.#head++;
    }
  }

  /** Takes the oldest live record off the queue and returns its id. */
  #oldest(): string | undefined {
    const id = this.#peek();
    if (id !== undefined) this.#head++;
    return id;
  }

  /** The id of the oldest live record, skipping stale ones (an id deleted or written again since). */
  #peek(): string | undefined {
    const ids = this.#queueIds;
    const seqs = this.#queueSeqs;
    while (this.#head < ids.length) {
      const id = ids[this.#head] as string;
      if (this.#entries.get(id)?.seq === seqs[this.#head]) return id;
      this.#head++;
    }
    return undefined;
  }

  /** Drops the queue's consumed part, and rebuilds it when stale records outnumber live ones. */
  #compact(): void {
    const length = this.#queueIds.length;
    if (this.#head > 1024 && this.#head * 2 > length) {
      this.#queueIds = this.#queueIds.slice(this.#head);
      this.#queueSeqs = this.#queueSeqs.slice(this.#head);
      this.#head = 0;
    } else if (length - this.#head > 2 * this.#entries.size + 1024) {
      // The Map keeps insertion order, which is the queue's order of live records.
      this.#queueIds = [];
      this.#queueSeqs = [];
      this.#head = 0;
      for (const [id, entry] of this.#entries) {
        this.#queueIds.push(id);
        this.#queueSeqs.push(entry.seq);
      }
    }
  }
}

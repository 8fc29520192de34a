import type {
  ClaimOptions,
  ClaimOutcome,
  CompleteOptions,
  ExtendOptions,
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
  readonly id: string;
  done: boolean;
  owner: string;
  /** When the claim's lease or the done-mark's window ends, in ms since the epoch. */
  expiresAt: number;
  /** Set once the entry left the Map (released, evicted, expired, written again): its age-queue record is stale. */
  gone: boolean;
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
 * Entries by id, and their age order in a queue of the entries themselves:
 * iterating a large Map from its start after many deletions costs more
 * with each deletion, which at a hundred thousand messages a second shows,
 * and a queue record that is its entry tells whether it is stale without
 * another lookup. An id's age is that of its first claim since it was last
 * free: completing a claim keeps its place.
 */
class MemoryIdempotencyStore implements IdempotencyStore {
  readonly #maxEntries: number;
  readonly #entries = new Map<string, Entry>();
  #queue: Entry[] = [];
  #head = 0;

  constructor(maxEntries: number) {
    this.#maxEntries = maxEntries;
  }

  claim(ids: readonly string[], o: ClaimOptions): Promise<ClaimOutcome[]> {
    const now = Date.now();
    this.#sweep(now);
    const outcomes: ClaimOutcome[] = new Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as string;
      const entry = this.#entries.get(id);
      if (entry && entry.expiresAt > now) outcomes[i] = entry.done ? "done" : "running";
      else {
        this.#insert(id, entry, false, o.owner, now + o.leaseMs);
        outcomes[i] = "claimed";
      }
    }
    return Promise.resolve(outcomes);
  }

  complete(ids: readonly string[], o: CompleteOptions): Promise<void> {
    const now = Date.now();
    for (const id of ids) {
      const entry = this.#entries.get(id);
      if (!entry || entry.expiresAt <= now) this.#insert(id, entry, true, o.owner, now + o.windowMs);
      else {
        entry.done = true;
        entry.expiresAt = now + o.windowMs;
      }
    }
    return Promise.resolve();
  }

  extend(ids: readonly string[], o: ExtendOptions): Promise<void> {
    const now = Date.now();
    for (const id of ids) {
      const entry = this.#entries.get(id);
      // Its place in the age queue stays that of its claim.
      if (entry && !entry.done && entry.owner === o.owner && entry.expiresAt > now) entry.expiresAt = now + o.leaseMs;
    }
    return Promise.resolve();
  }

  release(ids: readonly string[], o: ReleaseOptions): Promise<void> {
    for (const id of ids) {
      const entry = this.#entries.get(id);
      if (entry && !entry.done && entry.owner === o.owner) {
        this.#entries.delete(id);
        entry.gone = true;
      }
    }
    return Promise.resolve();
  }

  /** Adds an entry as the newest, evicting the oldest ones past the bound; `expired`: the one there, expired. */
  #insert(id: string, expired: Entry | undefined, done: boolean, owner: string, expiresAt: number): void {
    if (expired) {
      // Deleted first, so that the Map's order stays the queue's (a set would keep an expired entry's place).
      this.#entries.delete(id);
      expired.gone = true;
    }
    const entry: Entry = { id, done, owner, expiresAt, gone: false };
    this.#entries.set(id, entry);
    this.#queue.push(entry);
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#peek();
      if (oldest === undefined) break;
      this.#drop(oldest);
    }
    this.#compact();
  }

  /** Drops expired entries from the oldest end, as far as they run; the bound caps what stays. */
  #sweep(now: number): void {
    for (;;) {
      const oldest = this.#peek();
      if (oldest === undefined || oldest.expiresAt > now) return;
      this.#drop(oldest);
    }
  }

  /** Removes the oldest live entry, which `#peek` just returned. */
  #drop(oldest: Entry): void {
    this.#entries.delete(oldest.id);
    oldest.gone = true;
    this.#head++;
  }

  /** The oldest live entry, skipping stale records. */
  #peek(): Entry | undefined {
    const queue = this.#queue;
    while (this.#head < queue.length) {
      const entry = queue[this.#head] as Entry;
      if (!entry.gone) return entry;
      this.#head++;
    }
    return undefined;
  }

  /** Drops the queue's consumed part, and rebuilds it when stale records outnumber live ones. */
  #compact(): void {
    const length = this.#queue.length;
    if (this.#head > 1024 && this.#head * 2 > length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    } else if (length - this.#head > 2 * this.#entries.size + 1024) {
      // The Map keeps insertion order, which is the queue's order of live entries.
      this.#queue = [...this.#entries.values()];
      this.#head = 0;
    }
  }
}

import { PlacedList } from "./placed-list.js";
import { MAX_TIMER_MS } from "./timers.js";

/** An item with keepers' slots: each keeper's symbol → the item's index in that keeper. */
type Slotted = { [slot: symbol]: number | undefined };

const isObject = (item: unknown): item is object =>
  (typeof item === "object" && item !== null) || typeof item === "function";

/** Ticks never come closer together than this, whatever lease is reported. */
const MIN_TICK_MS = 50;
/** How often leases are extended while the lease is not known yet. */
const UNKNOWN_LEASE_TICK_MS = 5000;

/** What a `HeldLeases` extends, and how. */
export interface HeldLeasesOptions<T> {
  /**
   * Returns the lease in ms: how long an item stays leased after it was
   * received or last extended. It is read again before each tick, so it may
   * be learned late; undefined (or not a positive number) means unknown, and
   * ticks then come every 5 seconds.
   */
  leaseMs(): number | undefined;
  /**
   * How long, in ms, an item is kept at most from when it was held; after
   * that it is dropped and no longer extended, so that the broker delivers
   * it again. Default: no limit.
   */
  maxHoldMs?: number;
  /**
   * Extends the leases of `items`, in the order they were held. It may
   * return a promise: while one is pending, later ticks skip their call
   * (an extension must not queue behind a slow one). It must not assume
   * that every item is still valid: one may have been settled meanwhile.
   */
  extend(items: T[]): void | Promise<void>;
  /** Receives what `extend` threw or rejected with; the ticks go on. */
  onError(err: unknown): void;
  /** Receives the items a tick dropped because they were held `maxHoldMs`. Optional. */
  onDropped?(items: T[]): void;
}

/**
 * Keeps the leases of held items (messages a driver buffers, or the
 * portable layer holds) from running out: every half lease, one call to
 * `extend` extends all of them, so an item held within one `HeldLeases` is
 * never more than half a lease past its last extension. An item held longer
 * than `maxHoldMs` is dropped instead. The timer runs only while an item is
 * held, and never keeps the process alive.
 *
 * Core's lease keeper and drivers with a receive buffer of their own both
 * use it: a driver must not write a keep-alive timer of its own.
 *
 * An object item keeps its place in the keeper in a symbol-keyed slot of
 * its own (see `PlacedList`), so it must be extensible (not frozen or
 * sealed). Other items (string ids) are looked up in a Map.
 */
export class HeldLeases<T> {
  readonly #options: HeldLeasesOptions<T>;
  /** This keeper's slot: its own symbol, as one item may be held by two keepers at once. */
  readonly #slot = Symbol("heldAt");
  /** The index of each held item that is not an object, which cannot take a slot. */
  readonly #valueAt = new Map<T, number>();
  /** The held items in the order they were held, each with when it was held. */
  readonly #held = new PlacedList<T>((item, at) => this.#place(item, at));
  /** When a tick last extended every item then held. */
  #extendedAt = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;
  #extending = false;
  #stopped = false;

  constructor(options: HeldLeasesOptions<T>) {
    this.#options = options;
  }

  /**
   * Starts keeping the lease of `item`, received (or last extended) at
   * `now` (default: the current time). Ignored after `stop`.
   */
  hold(item: T, now: number = Date.now()): void {
    if (this.#stopped) return;
    const at = this.#indexOf(item);
    if (at === -1) this.#held.push(item, now);
    else this.#held.setValueAt(at, now);
    if (this.#timer === undefined) this.#schedule();
  }

  /** Stops keeping the lease of `item` (settled, or handed back). */
  release(item: T): void {
    const at = this.#indexOf(item);
    if (at !== -1) this.#remove(item, at);
  }

  /** How many items are held. */
  get size(): number {
    return this.#held.size;
  }

  /** Where `item` is held, or -1: its record may be stale (released, compacted, stopped), so it is checked. */
  #indexOf(item: T): number {
    const at = isObject(item) ? (item as Slotted)[this.#slot] : this.#valueAt.get(item);
    return at !== undefined && this.#held.at(at) === item ? at : -1;
  }

  /** Records that `item` is at `at` of the list; undefined: it is not held. */
  #place(item: T, at: number | undefined): void {
    if (isObject(item)) (item as Slotted)[this.#slot] = at;
    else if (at === undefined) this.#valueAt.delete(item);
    else this.#valueAt.set(item, at);
  }

  #remove(item: T, at: number): void {
    this.#held.removeAt(at);
    this.#place(item, undefined);
  }

  /**
   * Stops keeping the leases of `items` to hand them to a keeper that
   * extends them only from its own next tick, up to half a lease later (a
   * driver's buffer handing messages to the portable layer, whose first
   * extension may come half a lease after `receiveBatch` returned). Items
   * last extended more than a quarter lease ago are extended now, in one
   * call to `extend`, so that no item is ever more than three quarters of a
   * lease past its last extension. Returns only after `extend` was called
   * (it is not awaited); items not held are left out.
   */
  handOver(items: Iterable<T>, now: number = Date.now()): void {
    const lease = this.#lease();
    const stale = lease === undefined ? Number.NEGATIVE_INFINITY : now - lease / 4;
    const oldest = now - (this.#options.maxHoldMs ?? Number.POSITIVE_INFINITY);
    const due: T[] = [];
    for (const item of items) {
      const at = this.#indexOf(item);
      if (at === -1) continue;
      const since = this.#held.valueAt(at);
      this.#remove(item, at);
      if (since > oldest && Math.max(since, this.#extendedAt) < stale) due.push(item);
    }
    if (due.length > 0) this.#extend(due);
  }

  /** Stops for good: no more extensions, and later `hold` calls are ignored. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#held.clear();
    this.#valueAt.clear();
  }

  #lease(): number | undefined {
    const leaseMs = this.#options.leaseMs();
    return Number.isFinite(leaseMs) && (leaseMs as number) > 0 ? (leaseMs as number) : undefined;
  }

  #schedule(): void {
    const lease = this.#lease();
    const every = lease === undefined ? UNKNOWN_LEASE_TICK_MS : lease / 2;
    this.#timer = setTimeout(() => this.#tick(), Math.min(Math.max(every, MIN_TICK_MS), MAX_TIMER_MS));
    // Leases never keep a process alive: the receive loop or the application does.
    this.#timer.unref();
  }

  #tick(): void {
    this.#timer = undefined;
    if (this.#held.size === 0) return;
    const now = Date.now();
    const oldest = now - (this.#options.maxHoldMs ?? Number.POSITIVE_INFINITY);
    const items: T[] = [];
    const dropped: T[] = [];
    this.#held.forEach((item, since) => {
      if (since > oldest) items.push(item);
      else dropped.push(item);
    });
    for (const item of dropped) this.release(item);
    if (dropped.length > 0) this.#options.onDropped?.(dropped);
    if (items.length > 0 && !this.#extending) {
      this.#extendedAt = now;
      const pending = this.#extend(items);
      if (pending) {
        this.#extending = true;
        pending.finally(() => {
          this.#extending = false;
        });
      }
    }
    if (this.#held.size > 0) this.#schedule();
  }

  /** Calls `extend`; returns its promise, if it gave one, settled once it has (never rejected). */
  #extend(items: T[]): Promise<void> | undefined {
    try {
      const pending = this.#options.extend(items);
      if (pending === undefined) return undefined;
      return Promise.resolve(pending).catch((err: unknown) => this.#options.onError(err));
    } catch (err) {
      this.#options.onError(err);
      return undefined;
    }
  }
}

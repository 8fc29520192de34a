/** Lists shorter than this are never compacted: their holes cost less than a copy. */
const COMPACT_FROM = 256;

/**
 * Items in the order they were added, each with a number, where each item
 * knows its own index: `place` records it (in a field or slot of the item)
 * when the item is added and whenever compaction moves it. Finding an item
 * is then a read of its index and a check that the item is there, and
 * removing it leaves a hole: no hash operation per item, which a Map keyed
 * by the items cost (two per item, and an identity hash each), most of what
 * keeping track of messages cost per message on a fast driver.
 *
 * Holes are counted over the whole list, not only at its front, so one item
 * kept for hours at the front cannot let the list grow without bound: once
 * they are the majority, the items move to the front, in order, and `place`
 * records their new indexes. An index is valid only until the next
 * `removeAt` or `clear`, so callers must not keep one across them. An item
 * must not be `undefined`, which marks a hole.
 *
 * The kit's `HeldLeases` keeps its items in one (the number: when each was
 * held); the mem broker keeps its messages out for delivery in another.
 */
export class PlacedList<T> {
  readonly #place: (item: T, at: number) => void;
  #items: (T | undefined)[] = [];
  #values: number[] = [];
  /** No item before it: where `first` starts looking. */
  #head = 0;
  #count = 0;

  /** `place(item, at)` must record that `item` is at index `at`; it must not touch the list. */
  constructor(place: (item: T, at: number) => void) {
    this.#place = place;
  }

  /** How many items are in the list (holes not counted). */
  get size(): number {
    return this.#count;
  }

  /** The item at index `at`; undefined for a hole or an index past the end. */
  at(at: number): T | undefined {
    return this.#items[at];
  }

  /** The number kept with the item at index `at`. */
  valueAt(at: number): number {
    return this.#values[at] as number;
  }

  /** Replaces the number kept with the item at index `at`. */
  setValueAt(at: number, value: number): void {
    this.#values[at] = value;
  }

  /** Adds `item` at the end, with `value`, and has `place` record its index. */
  push(item: T, value = 0): void {
    this.#place(item, this.#items.length);
    this.#items.push(item);
    this.#values.push(value);
    this.#count++;
  }

  /**
   * Removes the item at index `at`, which must hold one (read it with `at`
   * first). May compact the list, which moves the other items; the removed
   * item's own record of its index is the caller's to clear.
   */
  removeAt(at: number): void {
    this.#items[at] = undefined;
    if (--this.#count === 0) this.clear();
    else if (this.#items.length >= COMPACT_FROM && this.#count * 2 < this.#items.length) this.#compact();
  }

  /** The first item, if any. */
  first(): T | undefined {
    const items = this.#items;
    while (this.#head < items.length && items[this.#head] === undefined) this.#head++;
    return items[this.#head];
  }

  /**
   * Calls `visit` with each item, in order, and its number. It sees the list
   * as it was when called, whatever `visit` removes.
   */
  forEach(visit: (item: T, value: number) => void): void {
    const items = this.#items;
    const values = this.#values;
    for (let i = this.#head; i < items.length; i++) {
      const item = items[i];
      if (item !== undefined) visit(item, values[i] as number);
    }
  }

  /** Empties the list; the items' records of their indexes are the caller's to clear. */
  clear(): void {
    this.#items = [];
    this.#values = [];
    this.#head = 0;
    this.#count = 0;
  }

  #compact(): void {
    const items: T[] = [];
    const values: number[] = [];
    for (let i = this.#head; i < this.#items.length; i++) {
      const item = this.#items[i];
      if (item === undefined) continue;
      this.#place(item, items.length);
      items.push(item);
      values.push(this.#values[i] as number);
    }
    this.#items = items;
    this.#values = values;
    this.#head = 0;
  }
}

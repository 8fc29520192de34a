/**
 * What one confirm channel has published and the broker has not yet
 * confirmed, by delivery tag. Tags start at 1 on every channel and go up by
 * one per publish; the broker confirms them singly or "all up to N", in any
 * order. A queue with a moving head keeps both cheap.
 */
export class ConfirmWindow<T> {
  /** `#items[i]` has delivery tag `#baseTag + i`; null once confirmed. */
  #items: (T | null)[] = [];
  #head = 0;
  #baseTag = 1;

  /** Records the next publish; it gets the next delivery tag. */
  push(item: T): void {
    this.#items.push(item);
  }

  /** Removes and returns what `deliveryTag` confirms: that one item, or with `multiple` every item up to it. */
  take(deliveryTag: number, multiple: boolean): T[] {
    const items = this.#items;
    const index = deliveryTag - this.#baseTag;
    const taken: T[] = [];
    if (multiple) {
      while (this.#head <= index && this.#head < items.length) {
        const item = items[this.#head];
        items[this.#head++] = null;
        if (item !== null && item !== undefined) taken.push(item);
      }
    } else {
      const item = items[index];
      if (item === null || item === undefined) return taken;
      items[index] = null;
      taken.push(item);
    }
    while (this.#head < items.length && items[this.#head] === null) this.#head++;
    if (this.#head === items.length) {
      this.#baseTag += items.length;
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 4096 && this.#head * 2 > items.length) {
      this.#baseTag += this.#head;
      this.#items = items.slice(this.#head);
      this.#head = 0;
    }
    return taken;
  }

  /** The first unconfirmed item that matches, oldest first. */
  find(match: (item: T) => boolean): T | undefined {
    for (let i = this.#head; i < this.#items.length; i++) {
      const item = this.#items[i];
      if (item !== null && item !== undefined && match(item)) return item;
    }
    return undefined;
  }

  /** The unconfirmed item with the lowest delivery tag, if any: the head, which `take` never leaves on a confirmed slot. */
  get oldest(): T | undefined {
    return this.#head < this.#items.length ? (this.#items[this.#head] as T) : undefined;
  }

  /** Every unconfirmed item, oldest first. */
  *[Symbol.iterator](): Iterator<T> {
    for (let i = this.#head; i < this.#items.length; i++) {
      const item = this.#items[i];
      if (item !== null && item !== undefined) yield item;
    }
  }

  /** Empties the window for a new channel (whose tags start at 1 again) and returns what was unconfirmed, in order. */
  reset(): T[] {
    const left = [...this];
    this.#items = [];
    this.#head = 0;
    this.#baseTag = 1;
    return left;
  }
}

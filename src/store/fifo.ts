/**
 * A FIFO with amortised O(1) push/shift and a hard capacity: pushing into a full queue
 * evicts (and returns) the oldest items. Used for MemoryStore's record log and the Recorder's
 * queue and journal, which must stay bounded however long the store is away.
 */
export class Fifo<T> {
  readonly capacity: number;
  #items: T[] = [];
  #head = 0;

  constructor(capacity: number) {
    if (!(capacity >= 1)) throw new RangeError(`Fifo capacity must be >= 1, got ${capacity}`);
    this.capacity = capacity;
  }

  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Appends; returns the items evicted from the head to stay within capacity. */
  push(item: T): T[] {
    this.#items.push(item);
    return this.#trim();
  }

  /**
   * Inserts before the first item with a larger key, scanning from the head: cheap when
   * the item belongs near the head (a failed write returning to a mostly sorted queue).
   */
  insertSorted(item: T, key: (x: T) => number): T[] {
    const k = key(item);
    let i = this.#head;
    for (; i < this.#items.length; i++) {
      const x = this.#items[i];
      if (x !== undefined && key(x) > k) break;
    }
    this.#items.splice(i, 0, item);
    return this.#trim();
  }

  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const item = this.#items[this.#head];
    this.#head += 1;
    // Compact occasionally so a long-lived queue does not keep every shifted slot alive.
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Removes and returns up to n items from the head. */
  shiftMany(n: number): T[] {
    const out: T[] = [];
    while (out.length < n && this.length > 0) {
      const item = this.shift();
      if (item !== undefined) out.push(item);
    }
    return out;
  }

  /** Up to n most recently pushed items, newest first, without removing them. */
  newest(n: number): T[] {
    const out: T[] = [];
    for (let i = this.#items.length - 1; i >= this.#head && out.length < n; i--) {
      const item = this.#items[i];
      if (item !== undefined) out.push(item);
    }
    return out;
  }

  #trim(): T[] {
    const over = this.length - this.capacity;
    return over > 0 ? this.shiftMany(over) : [];
  }
}

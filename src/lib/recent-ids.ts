/**
 * The last `max` ids seen, for idempotency checks. A ring buffer plus a Set: evicting the
 * oldest is O(1). (Evicting through `map.keys().next()` is not: V8 leaves deleted slots at
 * the front of a Map's table, so each eviction rescans them, and a 100k-id bound made every
 * write cost ~60 µs once full.)
 */
export class RecentIds {
  readonly #ring: (string | undefined)[];
  readonly #set = new Set<string>();
  #head = 0;

  constructor(max: number) {
    if (!Number.isSafeInteger(max) || max <= 0) throw new RangeError(`RecentIds max must be a positive integer, got ${max}`);
    this.#ring = new Array<string | undefined>(max);
  }

  has(id: string): boolean {
    return this.#set.has(id);
  }

  add(id: string): void {
    if (this.#set.has(id)) return;
    const old = this.#ring[this.#head];
    if (old !== undefined) this.#set.delete(old);
    this.#ring[this.#head] = id;
    this.#set.add(id);
    this.#head = (this.#head + 1) % this.#ring.length;
  }

  get size(): number {
    return this.#set.size;
  }
}

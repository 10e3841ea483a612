/** Counts work begun and not yet ended, and wakes whoever waits for it to reach zero (a shutdown). */
export class InFlight {
  #n = 0;
  #waiters: Array<() => void> = [];

  get size(): number {
    return this.#n;
  }

  begin(): void {
    this.#n += 1;
  }

  end(): void {
    if (this.#n > 0) this.#n -= 1;
    if (this.#n > 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves once nothing is in flight. */
  idle(): Promise<void> {
    if (this.#n === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}

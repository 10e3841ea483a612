import type { Clock } from '../../src/lib/clock.ts';

/** A settable clock; monotonic() follows real time so latency measurements stay meaningful. */
export class FakeClock implements Clock {
  #now: number;
  constructor(start: number) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  monotonic(): number {
    return performance.now();
  }
  set(t: number): void {
    this.#now = t;
  }
  advance(ms: number): void {
    this.#now += ms;
  }
}

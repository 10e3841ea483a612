import type { Clock } from '../lib/clock.ts';

/** The simulated clock: time moves only when the simulator sets it. */
export class SimClock implements Clock {
  t = 0;
  now(): number {
    return this.t;
  }
  monotonic(): number {
    return this.t;
  }
}

interface Timer {
  next: number;
  everyMs: number;
  run: (t: number) => Promise<void>;
}

/**
 * Periodic timers on the simulated clock (the forecast loop, chart samples), fired in time
 * order as the simulation advances; timers due at the same instant fire in the order added.
 */
export class SimTimers {
  readonly #clock: SimClock;
  readonly #end: number;
  readonly #timers: Timer[] = [];

  /** Timers never fire at or after `end`. */
  constructor(clock: SimClock, end: number) {
    this.#clock = clock;
    this.#end = end;
  }

  every(everyMs: number, first: number, run: (t: number) => Promise<void>): void {
    this.#timers.push({ next: first, everyMs, run });
  }

  /** Fires every timer due up to and including `t`, setting the clock to each firing time. */
  async advanceTo(t: number): Promise<void> {
    for (let next = this.#due(); next <= t && next < this.#end; next = this.#due()) {
      this.#clock.t = next;
      for (const timer of this.#timers) {
        if (timer.next !== next) continue;
        await timer.run(next);
        timer.next += timer.everyMs;
      }
    }
  }

  #due(): number {
    return Math.min(...this.#timers.map((x) => x.next));
  }
}

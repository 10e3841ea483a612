import type { TimerHandle, Timers } from './clock.ts';

interface Armed extends TimerHandle {
  at: number;
  /** As asked for: ms for a timeout, everyMs for a periodic timer. */
  delayMs: number;
  /** Ties at one instant fire in the order armed; a periodic timer keeps its place. */
  seq: number;
  /** 0: fires once. */
  everyMs: number;
  fn: (t: number) => unknown;
}

/** One turn of the event loop: every microtask queued so far has run. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Time that moves only when told: the clock of the tests and of the simulator. Advancing fires
 * the timers due, in time order, with now() set to each one's due time. A callback that returns
 * a promise is awaited before the next fires (the simulator's forecast pass finishes in simulated
 * time); after one that does not, the event loop takes a turn, so work it started on in-memory
 * stores (a retry, a waiter's attempt) settles before time moves on. Every advance starts and
 * ends with a turn. monotonic() is now(): latency measured on this clock is simulated too.
 */
export class ManualClock implements Timers {
  #now: number;
  #seq = 0;
  #advancing = false;
  readonly #armed: Armed[] = [];
  readonly #watchers: Array<{ match: (delayMs: number) => boolean; resolve: (delayMs: number) => void }> = [];
  readonly #random: () => number;

  /** `random` defaults to 0.5: jitter lands on the middle of its range. */
  constructor(start = 0, opts: { random?: () => number } = {}) {
    this.#now = start;
    this.#random = opts.random ?? (() => 0.5);
  }

  now(): number {
    return this.#now;
  }

  monotonic(): number {
    return this.#now;
  }

  random(): number {
    return this.#random();
  }

  setTimeout(fn: () => unknown, ms: number): TimerHandle {
    const delayMs = Math.max(ms, 1); // NaN and below 1 ms run on the next millisecond, as Node's timers do
    return this.#arm(fn, this.#now + delayMs, delayMs, 0);
  }

  /** Calls `fn(t)` at `first` and every `everyMs` after, until cleared. */
  every(everyMs: number, first: number, fn: (t: number) => unknown): TimerHandle {
    if (!(everyMs > 0) || first < this.#now) throw new RangeError(`every(${everyMs}, ${first}) at ${this.#now}`);
    return this.#arm(fn, first, everyMs, everyMs);
  }

  clearTimeout(handle: TimerHandle): void {
    const i = this.#armed.indexOf(handle as Armed);
    if (i >= 0) this.#armed.splice(i, 1);
  }

  /** Timers armed and not yet fired or cleared. */
  get pending(): number {
    return this.#armed.length;
  }

  /** When the next timer is due, or null when none is armed. */
  nextAt(): number | null {
    return this.#next()?.at ?? null;
  }

  /** Moves time to `t`, firing every timer due up to and including it. */
  async advanceTo(t: number): Promise<void> {
    if (!(t >= this.#now)) throw new RangeError(`time moves forward only: ${t} is before ${this.#now}`);
    await this.#exclusive(async () => {
      for (let next = this.#next(); next !== undefined && next.at <= t; next = this.#next()) await this.#fire(next);
      this.#now = t;
    });
  }

  advance(ms: number): Promise<void> {
    return this.advanceTo(this.#now + ms);
  }

  /** Moves time to the next timer and fires it (with any due at the same instant armed before it); false when none is armed. */
  async next(): Promise<boolean> {
    const at = this.nextAt();
    if (at === null) {
      await turn();
      return false;
    }
    await this.advanceTo(at);
    return true;
  }

  /**
   * Resolves with its delay once a timer whose delay `match` accepts is armed (one armed already
   * counts): for code that arms its next timer only after real I/O, such as a retry after a response.
   */
  armed(match: (delayMs: number) => boolean = () => true): Promise<number> {
    const ready = this.#armed.find((a) => match(a.delayMs));
    if (ready !== undefined) return Promise.resolve(ready.delayMs);
    return new Promise((resolve) => this.#watchers.push({ match, resolve }));
  }

  /** Fires timers, one instant at a time, until `p` settles; fails when `p` still waits and no timer is left to fire. */
  async until<T>(p: Promise<T>): Promise<T> {
    let settled = false;
    void p.then(
      () => (settled = true),
      () => (settled = true),
    );
    await this.advance(0);
    while (!settled) {
      if (!(await this.next())) throw new Error('ManualClock.until: the promise still waits, and no timer is armed');
    }
    return p;
  }

  #arm(fn: (t: number) => unknown, at: number, delayMs: number, everyMs: number): Armed {
    const armed: Armed = { at, delayMs, seq: this.#seq++, everyMs, fn, unref: () => armed };
    this.#armed.push(armed);
    for (const w of this.#watchers.filter((x) => x.match(delayMs))) {
      this.#watchers.splice(this.#watchers.indexOf(w), 1);
      w.resolve(delayMs);
    }
    return armed;
  }

  #next(): Armed | undefined {
    let best: Armed | undefined;
    for (const a of this.#armed) if (best === undefined || a.at < best.at || (a.at === best.at && a.seq < best.seq)) best = a;
    return best;
  }

  async #fire(a: Armed): Promise<void> {
    this.#now = a.at;
    if (a.everyMs > 0) a.at += a.everyMs;
    else this.clearTimeout(a);
    const result = a.fn(this.#now);
    if (result instanceof Promise) await result;
    else await turn();
  }

  /** Advancing from a timer's callback, or twice at once, would fire timers out of order. */
  async #exclusive(run: () => Promise<void>): Promise<void> {
    if (this.#advancing) throw new Error('ManualClock: advanced while already advancing');
    this.#advancing = true;
    try {
      await turn(); // what is pending at this instant runs at it, before time moves
      await run();
    } finally {
      this.#advancing = false;
    }
    await turn();
  }
}

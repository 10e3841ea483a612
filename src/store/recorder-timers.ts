/**
 * The Recorder's two timers, each at most one pending at a time: the linger that sends a
 * batch a while after its first record, and the journal replay's retry with capped
 * exponential backoff.
 */
import type { TimerHandle, Timers } from '../lib/clock.ts';

/** Calls `fn` once, `ms` after arm(), or at the end of this event-loop turn when `ms` is 0. */
export class Linger {
  readonly #ms: number;
  readonly #fn: () => void;
  readonly #clock: Timers;
  #timer: TimerHandle | null = null;
  /** ms 0 waits for the end of the event-loop turn, not for time: no clock involved. */
  #immediate: NodeJS.Immediate | null = null;

  constructor(ms: number, fn: () => void, clock: Timers) {
    this.#ms = ms;
    this.#fn = fn;
    this.#clock = clock;
  }

  /** Starts the wait unless one is running: a batch leaves `ms` after its first record. */
  arm(): void {
    if (this.#timer !== null || this.#immediate !== null) return;
    if (this.#ms > 0) this.#timer = this.#clock.setTimeout(this.#fire, this.#ms);
    else this.#immediate = setImmediate(this.#fire);
  }

  cancel(): void {
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    if (this.#immediate !== null) clearImmediate(this.#immediate);
    this.#timer = null;
    this.#immediate = null;
  }

  readonly #fire = (): void => {
    this.#timer = null;
    this.#immediate = null;
    this.#fn();
  };
}

/** One pending retry; unref'd, so it never keeps an otherwise finished process alive. */
export class RetryTimer {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #clock: Timers;
  #delayMs: number;
  #timer: TimerHandle | null = null;

  constructor(initialMs: number, maxMs: number, clock: Timers) {
    this.#initialMs = initialMs;
    this.#maxMs = maxMs;
    this.#clock = clock;
    this.#delayMs = initialMs;
  }

  /** Runs `fn` after the current delay, unless a retry is pending already. */
  schedule(fn: () => void): void {
    if (this.#timer !== null) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = null;
      fn();
    }, this.#delayMs);
    this.#timer.unref();
  }

  /** The retry failed: the next one waits twice as long, up to the maximum. */
  backOff(): void {
    this.#delayMs = Math.min(this.#delayMs * 2, this.#maxMs);
  }

  /** The store answered: the next outage starts from the initial delay. */
  reset(): void {
    this.#delayMs = this.#initialMs;
  }

  cancel(): void {
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
  }
}

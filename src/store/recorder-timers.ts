/**
 * The Recorder's two timers, each at most one pending at a time: the linger that sends a
 * batch a while after its first record, and the journal replay's retry with capped
 * exponential backoff.
 */

/** Calls `fn` once, `ms` after arm(), or at the end of this event-loop turn when `ms` is 0. */
export class Linger {
  readonly #ms: number;
  readonly #fn: () => void;
  #handle: NodeJS.Timeout | NodeJS.Immediate | null = null;

  constructor(ms: number, fn: () => void) {
    this.#ms = ms;
    this.#fn = fn;
  }

  /** Starts the wait unless one is running: a batch leaves `ms` after its first record. */
  arm(): void {
    if (this.#handle === null) this.#handle = this.#ms > 0 ? setTimeout(this.#fire, this.#ms) : setImmediate(this.#fire);
  }

  cancel(): void {
    if (this.#handle === null) return;
    clearTimeout(this.#handle as NodeJS.Timeout);
    clearImmediate(this.#handle as NodeJS.Immediate);
    this.#handle = null;
  }

  readonly #fire = (): void => {
    this.#handle = null;
    this.#fn();
  };
}

/** One pending retry; unref'd, so it never keeps an otherwise finished process alive. */
export class RetryTimer {
  readonly #initialMs: number;
  readonly #maxMs: number;
  #delayMs: number;
  #timer: NodeJS.Timeout | null = null;

  constructor(initialMs: number, maxMs: number) {
    this.#initialMs = initialMs;
    this.#maxMs = maxMs;
    this.#delayMs = initialMs;
  }

  /** Runs `fn` after the current delay, unless a retry is pending already. */
  schedule(fn: () => void): void {
    if (this.#timer !== null) return;
    this.#timer = setTimeout(() => {
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
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}

/**
 * Time is injected everywhere so tests and `simulate` can drive it; domain code never calls
 * Date.now(), setTimeout() or Math.random(). A `Clock` reads the time; code that also waits for
 * time (deadlines, backoff, polls, debounces, loops) takes a `Timers`, which is a Clock too.
 * `systemClock` is the real one; ManualClock (manual-clock.ts) moves only when told.
 */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Monotonic milliseconds with sub-ms precision, for latency measurement only. */
  monotonic(): number;
}

/** A pending timer; unref() lets the process exit while it waits (as Node's timers do). */
export interface TimerHandle {
  unref(): TimerHandle;
}

export interface Timers extends Clock {
  /** Calls `fn` once, `ms` from now (at least 1 ms, as Node does). Armed timers keep the process alive unless unref'd. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  /** Uniform in [0, 1), for jitter: a fake clock draws it deterministically. */
  random(): number;
}

export const systemClock: Timers = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  random: () => Math.random(),
};

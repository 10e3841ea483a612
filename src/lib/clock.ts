/** Time is injected everywhere so tests and `simulate` can drive it; domain code never calls Date.now(). */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Monotonic milliseconds with sub-ms precision, for latency measurement only. */
  monotonic(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
};

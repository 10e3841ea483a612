/** Durations in epoch milliseconds; time itself comes from an injected Clock (lib/clock.ts). */
export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/** Start of the UTC hour that holds `ms`. */
export function hourStart(ms: number): number {
  return ms - (ms % HOUR_MS);
}

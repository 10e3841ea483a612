/**
 * The pacing rate, pure. A throttle budget whose p50 projection exceeds its limit admits
 * spend at the rate that makes what is left last until the window ends.
 */

/** pico-units (of the instance's currency) per ms that spreads the remaining budget over the remaining window; null when no pacing is needed. */
export function pacedRate(
  limitPico: number,
  spentPico: number,
  reservedPico: number,
  projectedP50: number,
  windowEnd: number,
  now: number,
): number | null {
  if (projectedP50 <= limitPico) return null;
  const left = windowEnd - now;
  if (left <= 0) return 0;
  return Math.max(0, limitPico - spentPico - reservedPico) / left;
}

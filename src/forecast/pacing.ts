/**
 * Pacing decisions, pure. A throttle budget whose p50 projection exceeds its limit admits
 * spend at the rate that makes what is left last until the window ends.
 */

/** Low-priority traffic must leave this share of the bucket untouched, so it is throttled first. */
export const LOW_PRIORITY_RESERVE = 0.5;

/** pico-USD per ms that spreads the remaining budget over the remaining window; null when no pacing is needed. */
export function pacedRate(limitPico: number, spentPico: number, reservedPico: number, projectedP50: number, windowEnd: number, now: number): number | null {
  if (projectedP50 <= limitPico) return null;
  const left = windowEnd - now;
  if (left <= 0) return 0;
  return Math.max(0, limitPico - spentPico - reservedPico) / left;
}

/** Local offset of `timeZone` at `at` in ms (UTC+1 → 3,600,000), from Intl; used to put forecast days on local midnight. */
const formatters = new Map<string, Intl.DateTimeFormat>();

export function zoneOffsetMs(timeZone: string, at: number): number {
  // Building an Intl formatter costs ~0.1 ms; time zones are few, so keep one per zone.
  let fmt = formatters.get(timeZone);
  if (fmt === undefined) {
    fmt = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    });
    formatters.set(timeZone, fmt);
  }
  const parts = fmt.formatToParts(new Date(at));
  const n = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const wall = Date.UTC(n('year'), n('month') - 1, n('day'), n('hour'), n('minute'), n('second'));
  return wall - (at - (at % 1000));
}

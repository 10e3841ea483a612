/**
 * Time labels for simulate output. Aggregated traces count ms from 00:00 of the trace's
 * day 0 (so they land in January 1970); printing 1970 dates would suggest a real calendar,
 * so such times read "day N HH:MM". Real epoch times (per-request traces) print as UTC dates.
 */
import { DAY_MS } from '../core/time.ts';

/** Before 2000-01-01: a trace-relative clock, not a real date. */
const REAL_DATES_FROM = Date.UTC(2000, 0, 1);

export function isTraceClock(t: number): boolean {
  return t < REAL_DATES_FROM;
}

function hhmm(t: number): string {
  return new Date(t).toISOString().slice(11, 16);
}

/** `day 3` / `2023-11-16` for a midnight, with ` HH:MM` otherwise. */
export function timeLabel(t: number, day0: number): string {
  const midnight = t % DAY_MS === 0;
  const day = isTraceClock(t) ? `day ${Math.floor((t - day0) / DAY_MS)}` : new Date(t).toISOString().slice(0, 10);
  return midnight ? day : `${day} ${hhmm(t)}`;
}

/** Short axis label: the day at midnight, else the time of day. */
export function tickLabel(t: number, day0: number): string {
  if (t % DAY_MS !== 0) return hhmm(t);
  return isTraceClock(t) ? `day ${Math.floor((t - day0) / DAY_MS)}` : new Date(t).toISOString().slice(5, 10);
}

/** A budget window: its calendar id on real dates; on a trace clock, the day or the span. */
export function windowLabel(w: { id: string; start: number; end: number }, day0: number): string {
  if (w.id === 'rolling' || !isTraceClock(w.start)) return w.id;
  if (w.end - w.start === DAY_MS && w.start % DAY_MS === 0) return timeLabel(w.start, day0);
  // Within one day (an hour window): `day 0 13:00–14:00`.
  if (w.end - w.start < DAY_MS && Math.floor(w.start / DAY_MS) === Math.floor((w.end - 1) / DAY_MS)) {
    return `${timeLabel(w.start - (w.start % DAY_MS), day0)} ${hhmm(w.start)}–${w.end % DAY_MS === 0 ? '24:00' : hhmm(w.end)}`;
  }
  return `${timeLabel(w.start, day0)} – ${timeLabel(w.end, day0)}`;
}

import { DAY_MS, HOUR_MS, MINUTE_MS } from '../core/time.ts';
import type { CalendarUnit, WindowInstance, WindowSpec } from './types.ts';

/**
 * Budget windows: which window an instant falls in. Pure (the caller passes `now`), so the
 * gate, the admin API and tests all agree on boundaries without a clock.
 *
 * Calendar windows (`hour | day | week | month`) follow the wall clock of an IANA time zone,
 * read through Intl (the tz database Node ships), so they are right across DST: in
 * America/New_York the spring-forward day is 23 h long and the fall-back day 25 h. Weeks are
 * ISO weeks (Monday 00:00 local) named by ISO week-year. A window starts at the first instant
 * whose local time reaches its label (local midnight, or the end of a DST gap if a zone skips
 * midnight), so consecutive windows tile time with no gaps or overlaps.
 *
 * Rolling windows (`90m`, `24h`, `7d`) are "the last N": spend is kept in ~120 segments of
 * segmentMs (at least one minute), so old spend expires in steps of ~0.8% of the window rather
 * than continuously. That bounds the state per budget instance whatever the traffic.
 */

const SECOND = 1_000;

export const MIN_ROLLING_MS = MINUTE_MS;
export const MAX_ROLLING_MS = 31 * DAY_MS;
/** Rolling spend is tracked in about this many segments per window. */
export const ROLLING_SEGMENTS = 120;

const CALENDAR_UNITS: readonly CalendarUnit[] = ['hour', 'day', 'week', 'month'];
const ROLLING = /^(\d+)([mhd])$/;
const UNIT_MS = { m: MINUTE_MS, h: HOUR_MS, d: DAY_MS } as const;

/**
 * Parses a budget's `window` (and its `timezone`, used by calendar windows only).
 * Throws an Error whose message is the reason, ready to show at the config key.
 */
export function parseWindow(window: string, timezone: string): WindowSpec {
  if ((CALENDAR_UNITS as readonly string[]).includes(window)) {
    if (!validTimezone(timezone)) throw new Error(`unknown time zone '${timezone}'`);
    return { kind: 'calendar', unit: window as CalendarUnit, timezone };
  }
  const m = typeof window === 'string' ? ROLLING.exec(window) : null;
  const [, count, unit] = m ?? [];
  if (count === undefined || (unit !== 'm' && unit !== 'h' && unit !== 'd')) {
    throw new Error(
      `invalid window ${quote(window)}: expected hour, day, week or month (calendar), or a rolling length like 90m, 24h or 7d`,
    );
  }
  const ms = Number(count) * UNIT_MS[unit];
  if (ms < MIN_ROLLING_MS) throw new Error(`rolling window ${quote(window)} is shorter than the minimum 1m`);
  if (ms > MAX_ROLLING_MS) throw new Error(`rolling window ${quote(window)} is longer than the maximum 31d`);
  return { kind: 'rolling', ms };
}

/** Whether Intl knows the IANA time zone name (`Europe/Berlin`, `UTC`). */
/**
 * A time zone is an IANA name (`Asia/Kolkata`, `UTC`, `Etc/GMT-5`), the same on every runtime:
 * an offset such as `+05:30` is refused even where the runtime's ICU accepts one (Node 24 does,
 * Node 20 does not), since an offset has no daylight-saving rules and a config must not mean one
 * thing on one runtime and fail on another.
 */
export function validTimezone(tz: string): boolean {
  if (typeof tz !== 'string' || tz === '' || tz.startsWith('+') || tz.startsWith('-')) return false;
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

/** The window `spec` is in at `now` (epoch ms). Returned instances are frozen and may be shared. */
export function windowAt(spec: WindowSpec, now: number): WindowInstance {
  if (!Number.isFinite(now)) throw new RangeError(`now must be a finite epoch ms, got ${String(now)}`);
  if (spec.kind === 'rolling') {
    const segmentMs = Math.max(MINUTE_MS, Math.round(spec.ms / ROLLING_SEGMENTS / MINUTE_MS) * MINUTE_MS);
    return Object.freeze({ id: 'rolling', start: now - spec.ms, end: now, segmentMs, rollingMs: spec.ms });
  }
  // The catalog asks for the same window on every request; remember the last one per (unit, zone)
  // so the common case costs one comparison instead of a dozen Intl calls.
  const key = `${spec.unit}\u0000${spec.timezone}`;
  const cached = lastWindow.get(key);
  if (cached !== undefined && cached.start <= now && now < cached.end) return cached;
  const w = spec.unit === 'hour' ? hourWindow(spec.timezone, now) : dateWindow(spec.unit, spec.timezone, now);
  lastWindow.set(key, w);
  return w;
}

/** When the window in force at `now` ends (calendar), or null: a rolling window never resets. */
export function nextReset(spec: WindowSpec, now: number): number | null {
  return spec.kind === 'rolling' ? null : windowAt(spec, now).end;
}

const lastWindow = new Map<string, WindowInstance>();

function calendarWindow(id: string, start: number, end: number): WindowInstance {
  return Object.freeze({ id, start, end, segmentMs: end - start, rollingMs: null });
}

/**
 * An hour is the span between instants whose local clock reads HH:00, cut short by an offset
 * change. In a fall-back the local hour 01 happens twice: the second pass is its own window,
 * and its id carries the UTC offset (`2026-11-01T01-05:00`) so the two never share a counter.
 */
function hourWindow(tz: string, now: number): WindowInstance {
  const o = zoneOffsetMs(tz, now);
  // Offsets are not always whole hours (Asia/Kolkata +05:30, Asia/Kathmandu +05:45): align on local time.
  let start = Math.floor((now + o) / HOUR_MS) * HOUR_MS - o;
  let end = start + HOUR_MS;
  if (zoneOffsetMs(tz, start) !== o) start = firstChange(tz, start, now);
  if (zoneOffsetMs(tz, end) !== o) end = firstChange(tz, now, end);
  let id = hourLabel(tz, start);
  if (hourLabel(tz, start - 1) === id) id += formatOffset(o);
  return calendarWindow(id, start, end);
}

function hourLabel(tz: string, t: number): string {
  const w = wall(tz, t);
  return `${ymd(w.y, w.mo, w.d)}T${pad(w.h)}`;
}

/**
 * Day, week and month windows, computed on "wall dates": UTC-epoch ms of a local midnight
 * treated as if it were UTC, where date arithmetic has no DST. Each is then mapped to the
 * first real instant whose local time reaches it.
 */
function dateWindow(unit: Exclude<CalendarUnit, 'hour'>, tz: string, now: number): WindowInstance {
  const local = wall(tz, now);
  let first = Date.UTC(local.y, local.mo - 1, local.d);
  if (unit === 'week') first -= ((new Date(first).getUTCDay() + 6) % 7) * DAY_MS; // back to Monday
  if (unit === 'month') first = Date.UTC(local.y, local.mo - 1, 1);
  // One pass in practice. A zone that falls back across midnight (23:00 repeats after 00:00)
  // shows a local date whose window has already ended; step to the window that holds `now`.
  for (let i = 0; i < 4; i++) {
    const start = firstInstantReaching(tz, first);
    const next = step(unit, first, 1);
    const end = firstInstantReaching(tz, next);
    if (now < start) first = step(unit, first, -1);
    else if (now >= end) first = next;
    else return calendarWindow(dateId(unit, first), start, end);
  }
  throw new Error(`no ${unit} window found for ${new Date(now).toISOString()} in ${tz}`);
}

function step(unit: Exclude<CalendarUnit, 'hour'>, wallDate: number, n: 1 | -1): number {
  if (unit === 'day') return wallDate + n * DAY_MS;
  if (unit === 'week') return wallDate + n * 7 * DAY_MS;
  const d = new Date(wallDate);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + n, 1); // Date.UTC carries month 12 into the next year
}

function dateId(unit: Exclude<CalendarUnit, 'hour'>, wallDate: number): string {
  const d = new Date(wallDate);
  if (unit === 'day') return ymd(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate());
  if (unit === 'month') return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}`;
  // ISO 8601: a week belongs to the year that holds its Thursday (so 2027-01-01, a Friday, is 2026-W53).
  const thursday = new Date(wallDate + 3 * DAY_MS);
  const year = thursday.getUTCFullYear();
  const week = Math.floor((thursday.getTime() - Date.UTC(year, 0, 1)) / DAY_MS / 7) + 1;
  return `${pad(year, 4)}-W${pad(week)}`;
}

/**
 * The first instant whose local wall clock reads `target` or later (`target` is a wall time
 * as UTC ms). A repeated wall time (fall-back) gives its first occurrence; a skipped one
 * (spring-forward gap) gives the instant the clock jumps past it.
 */
function firstInstantReaching(tz: string, target: number): number {
  // The instant is within ±14 h of `target`; the offsets a day either side are those on both
  // sides of any transition near it.
  const offsets = [zoneOffsetMs(tz, target - DAY_MS), zoneOffsetMs(tz, target), zoneOffsetMs(tz, target + DAY_MS)];
  let best: number | undefined;
  for (const o of offsets) {
    const t = target - o;
    if (zoneOffsetMs(tz, t) === o && (best === undefined || t < best)) best = t;
  }
  if (best !== undefined) return best;
  // In a gap: before the jump the clock is behind target, after it ahead; find the jump.
  return firstChange(tz, target - Math.max(...offsets), target - Math.min(...offsets));
}

/** The first instant in (lo, hi] whose offset differs from the offset at lo (one change assumed). */
function firstChange(tz: string, lo: number, hi: number): number {
  const before = zoneOffsetMs(tz, lo);
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (zoneOffsetMs(tz, mid) === before) lo = mid;
    else hi = mid;
  }
  return hi;
}

interface Wall {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
  s: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Throws RangeError for an unknown zone (nothing is cached then). */
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(tz, f);
  }
  return f;
}

function wall(tz: string, t: number): Wall {
  const w: Wall = { y: 0, mo: 0, d: 0, h: 0, mi: 0, s: 0 };
  for (const p of formatter(tz).formatToParts(t)) {
    if (p.type === 'year') w.y = Number(p.value);
    else if (p.type === 'month') w.mo = Number(p.value);
    else if (p.type === 'day') w.d = Number(p.value);
    else if (p.type === 'hour')
      w.h = Number(p.value) % 24; // some ICU versions print midnight as 24
    else if (p.type === 'minute') w.mi = Number(p.value);
    else if (p.type === 'second') w.s = Number(p.value);
  }
  return w;
}

/** Local time minus UTC at instant t, in ms (+05:45 → 20_700_000); the forecaster also puts its days on local midnight with it. */
export function zoneOffsetMs(tz: string, t: number): number {
  const w = wall(tz, t);
  const whole = Math.floor(t / SECOND) * SECOND; // Intl drops milliseconds
  return Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s) - whole;
}

function formatOffset(o: number): string {
  const minutes = Math.round(Math.abs(o) / MINUTE_MS);
  return `${o < 0 ? '-' : '+'}${pad(Math.floor(minutes / 60))}:${pad(minutes % 60)}`;
}

function ymd(y: number, mo: number, d: number): string {
  return `${pad(y, 4)}-${pad(mo)}-${pad(d)}`;
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

function quote(v: unknown): string {
  return typeof v === 'string' ? `'${v.length > 40 ? `${v.slice(0, 37)}...` : v}'` : String(v);
}

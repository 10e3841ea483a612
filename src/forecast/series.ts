/**
 * Regular time series and the pure helpers the forecaster and the backtest share.
 *
 * A Series is a run of equal buckets: bucket i covers [start + i·stepMs, start + (i+1)·stepMs).
 * `start` is epoch ms for live data and trace ms (0 = 00:00 of the trace's day 0) for
 * aggregated traces; nothing here cares which, because days are always counted as
 * floor((t - dayOffsetMs) / DAY_MS) on that same clock.
 */
import { DAY_MS, HOUR_MS } from '../core/time.ts';

export interface Series {
  readonly start: number;
  readonly stepMs: number;
  readonly values: Float64Array;
}

export function makeSeries(start: number, stepMs: number, values: ArrayLike<number>): Series {
  if (!Number.isFinite(start)) throw new RangeError(`series start must be finite, got ${start}`);
  if (!(stepMs > 0) || !Number.isFinite(stepMs)) throw new RangeError(`series step must be > 0, got ${stepMs}`);
  return { start, stepMs, values: Float64Array.from(values) };
}

/** The instant just after the last bucket. */
export function seriesEnd(s: Series): number {
  return s.start + s.values.length * s.stepMs;
}

/**
 * Re-buckets onto `stepMs` buckets aligned to multiples of stepMs (plus `alignMs`), summing.
 * A source bucket that straddles a target boundary is split in proportion to its overlap:
 * the rate is assumed flat inside a bucket, the only honest assumption without finer data.
 */
export function resample(s: Series, stepMs: number, alignMs = 0): Series {
  if (!(stepMs > 0)) throw new RangeError(`step must be > 0, got ${stepMs}`);
  if (s.values.length === 0) return makeSeries(s.start, stepMs, []);
  const first = Math.floor((s.start - alignMs) / stepMs) * stepMs + alignMs;
  const last = Math.ceil((seriesEnd(s) - alignMs) / stepMs) * stepMs + alignMs;
  const out = new Float64Array(Math.round((last - first) / stepMs));
  for (let i = 0; i < s.values.length; i++) {
    const v = s.values[i] ?? 0;
    if (v === 0) continue;
    let a = s.start + i * s.stepMs;
    const b = a + s.stepMs;
    while (a < b) {
      const k = Math.floor((a - first) / stepMs);
      const edge = Math.min(b, first + (k + 1) * stepMs);
      out[k] = (out[k] ?? 0) + (v * (edge - a)) / s.stepMs;
      a = edge;
    }
  }
  return { start: first, stepMs, values: out };
}

export function resampleHourly(s: Series, alignMs = 0): Series {
  return s.stepMs === HOUR_MS && (s.start - alignMs) % HOUR_MS === 0 ? s : resample(s, HOUR_MS, alignMs);
}

/** Running totals: out[i] = Σ values[0..i]. */
export function cumulative(values: ArrayLike<number>): Float64Array {
  const out = new Float64Array(values.length);
  let acc = 0;
  for (let i = 0; i < values.length; i++) {
    acc += values[i] ?? 0;
    out[i] = acc;
  }
  return out;
}

/**
 * Sum over [from, to) with partial buckets pro-rated (flat rate inside a bucket).
 * Time outside the series counts as zero.
 */
export function sumRange(s: Series, from: number, to: number): number {
  if (!(to > from)) return 0;
  const lo = Math.max(0, Math.floor((from - s.start) / s.stepMs));
  const hi = Math.min(s.values.length, Math.ceil((to - s.start) / s.stepMs));
  let sum = 0;
  for (let i = lo; i < hi; i++) {
    const a = s.start + i * s.stepMs;
    const overlap = Math.min(to, a + s.stepMs) - Math.max(from, a);
    if (overlap > 0) sum += ((s.values[i] ?? 0) * overlap) / s.stepMs;
  }
  return sum;
}

/** The buckets that start in [from, to), as a new series (no pro-rating: bucket granularity). */
export function sliceSeries(s: Series, from: number, to: number): Series {
  const lo = Math.max(0, Math.ceil((from - s.start) / s.stepMs));
  const hi = Math.max(lo, Math.min(s.values.length, Math.ceil((to - s.start) / s.stepMs)));
  return { start: s.start + lo * s.stepMs, stepMs: s.stepMs, values: s.values.slice(lo, hi) };
}

/** Day index of instant t on the series clock (days start at dayOffsetMs mod DAY_MS). */
export function dayIndex(t: number, dayOffsetMs = 0): number {
  return Math.floor((t - dayOffsetMs) / DAY_MS);
}

export function dayStart(day: number, dayOffsetMs = 0): number {
  return day * DAY_MS + dayOffsetMs;
}

/**
 * Per-day view of an hourly series: for every whole day the series covers, the 24 hourly
 * values. Days only partly covered are left out, so a total is never an undercount.
 */
export interface DailyTable {
  /** Day index of rows[0]. */
  readonly firstDay: number;
  /** rows[d][h]: value of hour h of day firstDay + d. */
  readonly rows: readonly Float64Array[];
  readonly totals: Float64Array;
}

export function dailyTable(hourly: Series, dayOffsetMs = 0): DailyTable {
  if (hourly.stepMs !== HOUR_MS) throw new RangeError('dailyTable needs an hourly series');
  const firstDay = Math.ceil((hourly.start - dayOffsetMs) / DAY_MS) || 0; // never -0
  const lastDay = Math.floor((seriesEnd(hourly) - dayOffsetMs) / DAY_MS); // exclusive
  const rows: Float64Array[] = [];
  for (let d = firstDay; d < lastDay; d++) {
    const i0 = Math.round((dayStart(d, dayOffsetMs) - hourly.start) / HOUR_MS);
    rows.push(hourly.values.slice(i0, i0 + 24));
  }
  const totals = Float64Array.from(rows, (r) => r.reduce((a, b) => a + b, 0));
  return { firstDay, rows, totals };
}

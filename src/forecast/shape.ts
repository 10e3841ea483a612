/**
 * Intraday shape: the cumulative fraction of a day's total spent by hour h, C(h), as a
 * 25-point curve (C(0) = 0, C(24) = 1), read at fractional hours by linear interpolation
 * (a flat rate inside an hour, as everywhere else).
 *
 * The model's curve averages past days' own fractions (each day normalised by its own
 * total, so a busy day does not dominate the shape) with exponential recency weights and
 * extra weight for the same weekday (weekend days are shaped differently from weekdays in
 * user-driven traffic). The baselines' curves are the README's: flat (linear), yesterday's
 * (snaive1), and the previous 7 days pooled (snaive7).
 */
import { mod7, weightedQuantile } from './level.ts';

export const HOURS = 24;
export type Curve = Float64Array;

export const LINEAR_CURVE: Curve = Float64Array.from({ length: HOURS + 1 }, (_, h) => h / HOURS);

export function curveAt(c: Curve, h: number): number {
  if (h <= 0) return 0;
  if (h >= HOURS) return 1;
  const i = Math.floor(h);
  const a = c[i] ?? 0;
  const b = c[i + 1] ?? 1;
  return a + (b - a) * (h - i);
}

/** Σ of `row` over hours [0, h), pro-rating the partial hour. */
export function cumAtHour(row: ArrayLike<number>, h: number): number {
  let s = 0;
  const whole = Math.min(HOURS, Math.floor(h));
  for (let i = 0; i < whole; i++) s += row[i] ?? 0;
  if (whole < HOURS && h > whole) s += (row[whole] ?? 0) * (h - whole);
  return s;
}

/** Σ w·cum / Σ w·total over the rows: a pooled curve (busy days weigh more). Null when empty. */
export function pooledCurve(rows: readonly ArrayLike<number>[], weights?: readonly number[]): Curve | null {
  const c = new Float64Array(HOURS + 1);
  let all = 0;
  rows.forEach((r, j) => {
    const w = weights?.[j] ?? 1;
    let acc = 0;
    for (let h = 0; h < HOURS; h++) {
      acc += r[h] ?? 0;
      c[h + 1] = (c[h + 1] ?? 0) + w * acc;
    }
    all += w * acc;
  });
  if (!(all > 0)) return null;
  for (let h = 0; h <= HOURS; h++) c[h] = (c[h] ?? 0) / all;
  return c;
}

export interface ShapeOptions {
  lookbackDays: number;
  halfLifeDays: number;
  /** Weight multiplier for past days on the same weekday as the target day. */
  sameWeekday: number;
  /** 'median': pointwise weighted median of the days' curves (a burst day cannot bend it); 'mean'. */
  average: 'mean' | 'median';
}

export const DEFAULT_SHAPE: ShapeOptions = { lookbackDays: 28, halfLifeDays: 7, sameWeekday: 3, average: 'mean' };

/**
 * The model's curve for `targetDay` from whole days before `beforeDay` (rows[i] is day
 * firstDay + i). Days with a zero total carry no shape and are skipped. Null when none.
 */
export function fitShape(
  rows: readonly ArrayLike<number>[],
  totals: ArrayLike<number>,
  firstDay: number,
  beforeDay: number,
  targetDay: number,
  o: ShapeOptions = DEFAULT_SHAPE,
): Curve | null {
  const end = Math.min(rows.length, beforeDay - firstDay);
  const start = Math.max(0, end - o.lookbackDays);
  const curves: Float64Array[] = [];
  const weights: number[] = [];
  for (let i = start; i < end; i++) {
    const row = rows[i];
    const tot = totals[i] ?? 0;
    if (row === undefined || !(tot > 0)) continue;
    const day = firstDay + i;
    weights.push(Math.pow(0.5, (beforeDay - 1 - day) / o.halfLifeDays) * (mod7(day) === mod7(targetDay) ? o.sameWeekday : 1));
    const c = new Float64Array(HOURS + 1);
    for (let h = 0; h < HOURS; h++) c[h + 1] = (c[h] ?? 0) + (row[h] ?? 0) / tot;
    curves.push(c);
  }
  if (curves.length === 0) return null;
  const out = new Float64Array(HOURS + 1);
  const wsum = weights.reduce((a, b) => a + b, 0);
  for (let h = 0; h <= HOURS; h++) {
    const at = curves.map((c) => c[h] ?? 0);
    // The pointwise median of non-decreasing curves is itself non-decreasing: still a curve.
    out[h] = o.average === 'median' ? weightedQuantile(at, weights, 0.5) : at.reduce((a, v, j) => a + v * (weights[j] ?? 0), 0) / wsum;
  }
  out[HOURS] = 1;
  return out;
}

/** Σ over hours of |share(h) − mean of its neighbours' shares| (0: smooth; near 2: all in one hour). */
export function roughness(c: Curve): number {
  const share = (h: number) => (c[(((h % HOURS) + HOURS) % HOURS) + 1] ?? 0) - (c[((h % HOURS) + HOURS) % HOURS] ?? 0);
  let r = 0;
  for (let h = 0; h < HOURS; h++) r += Math.abs(share(h) - (share(h - 1) + share(h + 1)) / 2);
  return r;
}

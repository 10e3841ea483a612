/**
 * The candidate day forecasts, all in one form so the forecaster can compare, select and
 * project any of them the same way: a day's spend after hour h is scale × (C(t) − C(h)) for
 * a cumulative curve C, so the total is cum + scale × (1 − C(h)).
 *
 *   profile  C = the model's shape; scale = B × ρ^w, B the prior level of the day, and
 *            ρ = (cum + k·B) / (B·C(h) + k·B) how far the day runs above or below plan so
 *            far. w (0..1, calibrated per hour) says how much of that to believe: early in
 *            the day cum is a handful of noisy hours and the prior level knows more; late in
 *            the day the reverse. The pseudo-count k (a small share of a day) shrinks ρ
 *            toward 1 while C(h) is tiny, so a quiet night cannot produce ρ = 0.
 *   linear   C(h) = h/24, scale = cum / C(h)          (the README baselines, exactly)
 *   snaive1  C = yesterday's fractions, scale = cum / C(h)
 *   snaive7  C = the previous 7 days pooled, scale = cum / C(h)
 */
import { fitLevel, type LevelOptions } from './level.ts';
import { curveAt, fitShape, LINEAR_CURVE, pooledCurve, type Curve, type ShapeOptions } from './shape.ts';

export const METHODS = ['profile', 'linear', 'snaive1', 'snaive7'] as const;
export type MethodName = (typeof METHODS)[number];

/** Everything known about a day before it starts. */
export interface DayPrior {
  day: number;
  /** Whole days of history before it. */
  historyDays: number;
  /** Median-unbiased expected total (the profile method's B). */
  level: number;
  /** Mean-unbiased expected total (for sums over whole future days). */
  levelMean: number;
  logSpread: number;
  curves: { profile: Curve; linear: Curve; snaive1: Curve | null; snaive7: Curve | null };
}

export interface PriorOptions {
  level: LevelOptions;
  shape: ShapeOptions;
}

/** Whole-day history: rows[i] are the 24 hourly values of day firstDay + i. */
export interface DayHistory {
  firstDay: number;
  rows: readonly Float64Array[];
  totals: Float64Array;
}

/** The prior for `day` from the whole days of `h` before it; null without any. */
export function dayPrior(h: DayHistory, day: number, o: PriorOptions): DayPrior | null {
  const lv = fitLevel(h.totals, h.firstDay, day, o.level);
  if (lv === null) return null;
  const end = Math.min(h.rows.length, day - h.firstDay);
  return {
    day,
    historyDays: lv.days,
    level: lv.median(day),
    levelMean: lv.mean(day),
    logSpread: lv.logSpread,
    curves: {
      profile: fitShape(h.rows, h.totals, h.firstDay, day, day, o.shape) ?? LINEAR_CURVE,
      linear: LINEAR_CURVE,
      snaive1: pooledCurve(h.rows.slice(Math.max(0, end - 1), end)),
      snaive7: pooledCurve(h.rows.slice(Math.max(0, end - 7), end)),
    },
  };
}

/** Below this share of the day elapsed, cum / C(h) is meaningless: ratio methods abstain. */
const MIN_ELAPSED = 1e-9;

/**
 * The scale of the rest of the day (see the module comment), or null when the method is
 * undefined here (a ratio method at a point where its curve says nothing was spent yet).
 */
export function dayScale(m: MethodName, p: DayPrior, cum: number, h: number, w: number, k: number): number | null {
  const curve = p.curves[m];
  if (curve === null) return null;
  const c = curveAt(curve, h);
  if (m === 'profile') {
    const b = p.level;
    if (!(b > 0)) return c > MIN_ELAPSED ? cum / c : null;
    const rho = (cum + k * b) / (b * c + k * b);
    return b * Math.pow(rho, w);
  }
  return c > MIN_ELAPSED ? cum / c : null;
}

/** Total of the day by method m at hour h given cum so far; null when undefined. */
export function dayTotal(m: MethodName, p: DayPrior, cum: number, h: number, w: number, k: number): number | null {
  const s = dayScale(m, p, cum, h, w, k);
  const curve = p.curves[m];
  if (s === null || curve === null) return null;
  return cum + s * (1 - curveAt(curve, h));
}

/**
 * The candidate day forecasts, all in one form so the forecaster can compare, select and
 * project any of them the same way: a day's spend after hour h is scale × (C(t) − C(h)) for
 * a cumulative curve C, so the total is cum + scale × (1 − C(h)).
 *
 *   profile  C = the model's shape; scale = B × ρ^w, B the prior level of the day, and
 *            ρ = (spent in [h−r, h) + k·B) / (B·(C(h) − C(h−r)) + k·B) how far the last r
 *            hours of the day (ratioHours, default 6; capped at the day start) ran above or
 *            below plan. The recent window backtested better than the whole day so far: the
 *            near future follows the current rate. w (0..1, calibrated per hour) says how
 *            much of that to believe: early in the day it is a few noisy hours and the prior
 *            level knows more; late in the day the reverse. The pseudo-count k (a small
 *            share of a day) shrinks ρ toward 1 while little is expected, so a quiet night
 *            cannot produce ρ = 0.
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

/** What is known of the day at hour h: its spend so far, and the part since hour `from`. */
export interface DayObs {
  h: number;
  cum: number;
  /** Spend in [from, h): the window the profile's ratio is read over (from = 0: the whole day). */
  recent: number;
  from: number;
}

export interface ProfileParams {
  /** Trust in the observed ratio, 0..1. */
  w: number;
  /** Pseudo-count of the ratio, as a share of the day's level. */
  k: number;
}

/**
 * The scale of the rest of the day (see the module comment), or null when the method is
 * undefined here (a ratio method at a point where its curve says nothing was spent yet).
 */
export function dayScale(m: MethodName, p: DayPrior, o: DayObs, pp: ProfileParams): number | null {
  const curve = p.curves[m];
  if (curve === null) return null;
  const c = curveAt(curve, o.h);
  if (m === 'profile') {
    const b = p.level;
    if (!(b > 0)) return c > MIN_ELAPSED ? o.cum / c : null;
    const expected = b * (c - curveAt(curve, o.from));
    const rho = (o.recent + pp.k * b) / (expected + pp.k * b);
    return b * Math.pow(rho, pp.w);
  }
  return c > MIN_ELAPSED ? o.cum / c : null;
}

/** Total of the day by method m given what was observed; null when undefined. */
export function dayTotal(m: MethodName, p: DayPrior, o: DayObs, pp: ProfileParams): number | null {
  const s = dayScale(m, p, o, pp);
  const curve = p.curves[m];
  if (s === null || curve === null) return null;
  return o.cum + s * (1 - curveAt(curve, o.h));
}

/**
 * The rest of a day under a blend of methods: the total is the geometric blend of the
 * methods' totals (an undefined method counts as linear, as in calibration), and the
 * remaining spend is spread over the hours by the blend of their curves.
 */
export interface BlendedDay {
  total: number;
  /** Share of the remaining spend that falls in hours [h0, h1) (h0 ≥ the blend's hour). */
  share(h0: number, h1: number): number;
}

export function blendedDay(mix: Readonly<Record<MethodName, number>>, p: DayPrior, o: DayObs, pp: ProfileParams): BlendedDay {
  const { cum, h } = o;
  let logTotal = 0;
  let zero = false;
  const parts: [number, Curve][] = [];
  for (const m of METHODS) {
    const weight = mix[m];
    if (!(weight > 0)) continue;
    const own = dayTotal(m, p, o, pp);
    const total = own ?? dayTotal('linear', p, o, pp) ?? cum;
    if (!(total > 0)) zero = true;
    logTotal += weight * Math.log(Math.max(total, 1e-12));
    parts.push([weight, own === null ? p.curves.linear : (p.curves[m] ?? p.curves.linear)]);
  }
  const denom = parts.reduce((a, [wt, c]) => a + wt * (1 - curveAt(c, h)), 0);
  return {
    // A geometric blend of zeros is zero (the log floor would otherwise leave a speck).
    total: Math.max(cum, zero ? 0 : Math.exp(logTotal)),
    share: (h0, h1) => (denom > 0 ? parts.reduce((a, [wt, c]) => a + wt * (curveAt(c, h1) - curveAt(c, h0)), 0) / denom : 0),
  };
}

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
import { fitLevel, weightedQuantile, type LevelOptions } from './level.ts';
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
  /**
   * The day's total implied hour by hour (each whole hour's spend over its share of the
   * shape), their share-weighted median: what a moved level is judged on, so a burst of a
   * few hours (a large, short departure) does not read as the level moving.
   */
  robust?: number;
}

/**
 * The share-weighted quartiles over the whole hours before h of row[i] / share_i, read toward
 * `level`: the lower quartile when even it is above the level, the upper one when even it is
 * below, else the median. A level moves only when three hours in four say so (null: no hour).
 */
export function robustTotal(row: ArrayLike<number>, curve: Curve, h: number, level: number): number | null {
  const vals: number[] = [];
  const ws: number[] = [];
  for (let i = 0; i < Math.min(24, Math.floor(h)); i++) {
    const share = (curve[i + 1] ?? 1) - (curve[i] ?? 0);
    if (!(share > 1e-6)) continue;
    vals.push((row[i] ?? 0) / share);
    ws.push(share);
  }
  if (vals.length === 0) return null;
  const lo = weightedQuantile(vals, ws, 0.25);
  const hi = weightedQuantile(vals, ws, 0.75);
  return lo > level ? lo : hi < level ? hi : weightedQuantile(vals, ws, 0.5);
}

export interface ProfileParams {
  /** Trust in the observed ratio, 0..1. */
  w: number;
  /** Pseudo-count of the ratio, as a share of the day's level. */
  k: number;
  /**
   * Precision weighting (calibrate.ts, trust 'precision'): the log variance of a day's total
   * around its prior level, and of the pace read over the ratio window; with them the trust is
   * not w but the posterior of a two-part prior (below, levelPosterior).
   */
  levelVar?: number;
  paceVar?: number;
  /** The same for the pace read over the whole day so far (what a moved level is judged on). */
  paceVarAll?: number;
  /** Prior probability that the level moved, and the log spread of such a move. */
  jumpProb?: number;
  jumpSd?: number;
}

/**
 * The day's log scale given the prior level's log lb and today's pace's log lp (recent window)
 * and lpAll (the whole day so far): the level is
 * N(lb, levelVar) with probability 1 − jumpProb (an ordinary day) or N(lb, jumpSd²) (the level
 * moved), the pace N(log scale, paceVarAll). The posterior mean is each part's blend (an ordinary
 * day's trust is w: the precision weight levelVar / (levelVar + paceVar), refined by the
 * calibration's honest errors as days accrue; a moved level's is jumpSd²'s), weighted by how well that part explains the gap lp − lb: a gap within the usual
 * spread keeps the days before in charge, one far beyond it hands the day to today's pace.
 * `moved` is the posterior probability of the second part.
 */
export function levelPosterior(lb: number, lp: number, lpAll: number, pp: ProfileParams, lpCum = lpAll): { log: number; moved: number } {
  const lv = pp.levelVar ?? 0;
  const pv = pp.paceVarAll ?? pp.paceVar ?? 1;
  const jv = (pp.jumpSd ?? 1) ** 2;
  const pj = pp.jumpProb ?? 0;
  const d = lpAll - lb;
  const dens = (v: number) => Math.exp(-(d * d) / (2 * v)) / Math.sqrt(v);
  const a = (1 - pj) * dens(lv + pv);
  const b = pj * dens(jv + pv);
  const moved = a + b > 0 ? b / (a + b) : 1;
  // An ordinary day trusts the recent pace by w (the calibrated precision weight); a moved
  // level follows the whole day's pace by its own precision weight.
  const log = (1 - moved) * (lb + pp.w * (lp - lb)) + moved * (lb + (jv / (jv + pv)) * (lpCum - lb));
  return { log, moved };
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
    if (pp.levelVar !== undefined) {
      // Whether the level moved is read on the whole day so far (the most evidence); an
      // ordinary day's update on the recent window, as before.
      const pace = c > MIN_ELAPSED ? (o.cum + pp.k * b) / (b * c + pp.k * b) : 1;
      const all = o.robust !== undefined ? Math.max(1e-3, o.robust / b) : pace;
      return Math.exp(levelPosterior(Math.log(b), Math.log(b * rho), Math.log(b * all), pp, Math.log(b * pace)).log);
    }
    return b * Math.pow(rho, pp.w);
  }
  return c > MIN_ELAPSED ? o.cum / c : null;
}

/**
 * The posterior probability that today's level moved away from the days before (precision
 * weighting only; 0 otherwise): what `levelChanged` in a projection reports.
 */
export function levelMoved(p: DayPrior, o: DayObs, pp: ProfileParams): number {
  const b = p.level;
  const c = curveAt(p.curves.profile, o.h);
  if (pp.levelVar === undefined || !(b > 0) || !(c > MIN_ELAPSED)) return 0;
  const all = o.robust !== undefined ? Math.max(1e-3, o.robust / b) : (o.cum + pp.k * b) / (b * c + pp.k * b);
  return levelPosterior(Math.log(b), Math.log(b), Math.log(b * all), pp).moved;
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
  let positive = 0;
  let zero = 0;
  const parts: [number, Curve][] = [];
  for (const m of METHODS) {
    const weight = mix[m];
    if (!(weight > 0)) continue;
    const own = dayTotal(m, p, o, pp);
    const total = own ?? dayTotal('linear', p, o, pp) ?? cum;
    parts.push([weight, own === null ? p.curves.linear : (p.curves[m] ?? p.curves.linear)]);
    if (!(total > 0)) {
      zero += weight;
      continue;
    }
    logTotal += weight * Math.log(total);
    positive += weight;
  }
  const denom = parts.reduce((a, [wt, c]) => a + wt * (1 - curveAt(c, h)), 0);
  return {
    // A method that says zero before anything was spent (a ratio of nothing: 3 a.m. at an
    // office-hours service) has no say in a geometric blend, which it would zero whatever its
    // weight; the day is zero only when such methods carry most of the weight (no spend at all).
    total: Math.max(cum, zero >= positive ? 0 : Math.exp(logTotal / positive)),
    share: (h0, h1) => (denom > 0 ? parts.reduce((a, [wt, c]) => a + wt * (curveAt(c, h1) - curveAt(c, h0)), 0) / denom : 0),
  };
}

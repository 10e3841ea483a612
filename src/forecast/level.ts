/**
 * The daily level: what a whole day is expected to total, before looking at the day itself.
 *
 * A weighted least-squares fit (ml-regression-multivariate-linear) of log(day total) on an
 * intercept, day-of-week dummies and optionally a linear trend, over the last `lookbackDays`
 * whole days with exponential recency weights. Why each piece:
 *  - log space: spend is multiplicative (a busy day is 2× a quiet one, not +N), and a
 *    burst day moves a log-mean far less than a mean;
 *  - day-of-week dummies (from one week of history) are ridge-penalised (pseudo-rows pulling
 *    them to 0): weakly, because a real weekly cycle (BurstGPT's quiet weekends, ×2.3) is
 *    worth most of the H=6 accuracy, while a series without one only carries small noise;
 *  - the trend is off by default (it backtested worse) and ridge-penalised hard when on:
 *    extrapolating a slope fitted on a few noisy days is the classic way to be confidently
 *    wrong;
 *  - one pass of outlier down-weighting (residuals beyond 3 MADs) keeps a single burst day
 *    from dragging the level.
 * The library (ml-regression's multivariate least squares) has no weights, so rows are scaled
 * by √weight (exact for least squares).
 */
import { MultivariateLinearRegression } from 'ml-regression';

export interface LevelOptions {
  lookbackDays: number;
  halfLifeDays: number;
  weekly: boolean;
  trend: boolean;
  /** Ridge strength for the day-of-week effects, in units of "days of evidence". */
  weeklyRidge: number;
  /** Whole days needed before weekday effects are fitted. */
  weeklyMinDays: number;
  /** Ridge strength for the trend (per week) coefficient. */
  trendRidge: number;
}

export const DEFAULT_LEVEL: LevelOptions = {
  lookbackDays: 42,
  halfLifeDays: 14,
  weekly: true,
  trend: false,
  weeklyRidge: 2,
  weeklyMinDays: 7,
  trendRidge: 20,
};

export interface LevelFit {
  /** Median-unbiased level (exp of the log fit) for the given day index. */
  median(day: number): number;
  /** Mean-unbiased level (Duan smearing of the log residuals): what sums of days need. */
  mean(day: number): number;
  days: number;
}

/**
 * Fits the level from whole-day totals `totals[i]` of day `firstDay + i`, using only days
 * before `beforeDay`. Returns null when there is no such day.
 */
export function fitLevel(totals: ArrayLike<number>, firstDay: number, beforeDay: number, o: LevelOptions = DEFAULT_LEVEL): LevelFit | null {
  const end = Math.min(totals.length, beforeDay - firstDay);
  const start = Math.max(0, end - o.lookbackDays);
  if (end <= start) return null;
  const days: number[] = [];
  const logs: number[] = [];
  let pos = 0;
  for (let i = start; i < end; i++) pos = Math.max(pos, totals[i] ?? 0);
  // Nothing spent at all: the level is zero, not exp(anything).
  if (!(pos > 0)) return { median: () => 0, mean: () => 0, days: end - start };
  // A zero day has no log; floor it at a small share of the busiest day (a real "near nothing").
  const floor = pos * 1e-3;
  for (let i = start; i < end; i++) {
    days.push(firstDay + i);
    logs.push(Math.log(Math.max(floor, totals[i] ?? 0)));
  }
  const n = days.length;
  const weekly = o.weekly && n >= o.weeklyMinDays;
  const trend = o.trend && n >= 5;
  const features = (day: number): number[] => {
    const x = [1];
    if (trend) x.push((day - beforeDay) / 7);
    // All seven dummies next to the intercept: collinear alone, but the ridge makes the fit
    // unique and shrinks every weekday symmetrically toward the common level.
    if (weekly) for (let k = 0; k < 7; k++) x.push(mod7(day) === k ? 1 : 0);
    return x;
  };
  const recency = days.map((d) => Math.pow(0.5, (beforeDay - 1 - d) / o.halfLifeDays));
  let weights = recency.slice();
  const penalty = [0, ...(trend ? [o.trendRidge] : []), ...(weekly ? new Array<number>(7).fill(o.weeklyRidge) : [])];
  let coef = solve(days.map(features), logs, weights, penalty);
  const resid = () => logs.map((y, i) => y - dot(coef, features(days[i] ?? 0)));
  const mad = weightedMedian(resid().map(Math.abs), weights) * 1.4826;
  if (mad > 0 && n >= 4) {
    weights = resid().map((r, i) => (recency[i] ?? 0) * (Math.abs(r) > 3 * mad ? 0.1 : 1));
    coef = solve(days.map(features), logs, weights, penalty);
  }
  const r = resid();
  const wsum = weights.reduce((a, b) => a + b, 0);
  // Duan smearing: the mean of a sum of days needs E[total] = exp(log fit) · E[exp(residual)].
  // Uncapped on purpose: for bursty spend the bursts are the mean (a cap at ×4 lost to linear
  // on the month backtest of BurstGPT all traffic); the down-weighted outliers still count less.
  const smear = r.reduce((a, e, i) => a + (weights[i] ?? 0) * Math.exp(e), 0) / wsum;
  const median = (day: number): number => Math.exp(dot(coef, features(day)));
  return { median, mean: (day) => median(day) * smear, days: n };
}

/** Weighted ridge least squares via the library: √w-scaled rows plus one pseudo-row per penalty. */
function solve(x: number[][], y: number[], w: number[], penalty: number[]): number[] {
  const p = penalty.length;
  const rows = x.map((r, i) => r.map((v) => v * Math.sqrt(w[i] ?? 0)));
  const ys = y.map((v, i) => [v * Math.sqrt(w[i] ?? 0)]);
  for (let k = 0; k < p; k++) {
    const lambda = penalty[k] ?? 0;
    if (lambda <= 0) continue;
    const row = new Array<number>(p).fill(0);
    row[k] = Math.sqrt(lambda);
    rows.push(row);
    ys.push([0]);
  }
  const fit = new MultivariateLinearRegression(rows, ys, { intercept: false, statistics: false });
  return fit.weights.map((c) => c[0] ?? 0);
}

function dot(a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] ?? 0) * (b[i] ?? 0);
  return s;
}

export function mod7(day: number): number {
  return ((day % 7) + 7) % 7;
}

/** Weighted median (lower), 0 for no data. */
export function weightedMedian(values: number[], weights: number[]): number {
  return weightedQuantile(values, weights, 0.5);
}

export function weightedQuantile(values: number[], weights: number[], q: number): number {
  const idx = values.map((_, i) => i).sort((a, b) => (values[a] ?? 0) - (values[b] ?? 0));
  const total = weights.reduce((a, b) => a + b, 0);
  if (idx.length === 0 || !(total > 0)) return 0;
  let acc = 0;
  for (const i of idx) {
    acc += weights[i] ?? 0;
    if (acc >= q * total) return values[i] ?? 0;
  }
  return values[idx[idx.length - 1] ?? 0] ?? 0;
}

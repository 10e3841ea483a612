/**
 * Per-hour calibration from the forecaster's own history, walk-forward so nothing at or
 * after the forecast day is used:
 *
 *  - w: the profile method's trust in today's observed ratio at hour h, chosen on a grid to
 *    minimise the recency-weighted mean APE over past days at the same hour, shrunk toward
 *    a prior (the expected share of the day already spent) when there are few such days;
 *  - selection: each method's *honest* past errors (for every past day, the w it would have
 *    used then, fitted on the days before it), recency-weighted. The profile method is kept
 *    unless a baseline has been clearly better (by `selectionMargin`) over enough days: on a
 *    series that its own history shows to be unpredictable (programmatic bursts), the
 *    forecaster falls back to the baseline that history favours. `combine` can blend
 *    instead of selecting (geometric, inverse-MAPE weights); that backtested worse, so
 *    selection is the default (bench/forecast-candidates.ts);
 *  - residuals: honest log(actual / forecast) of what would have been used on those days,
 *    for the p10/p90 band.
 */
import { dayTotal, METHODS, type DayHistory, type DayObs, type DayPrior, type MethodName, type ProfileParams } from './methods.ts';
import { fitStack } from './stack.ts';
import { cumAtHour, curveAt } from './shape.ts';

export interface CalibrationOptions {
  /** How many past days (at most) calibrate each hour. */
  days: number;
  halfLifeDays: number;
  /** Pseudo-count of the ratio, as a share of a day's level. */
  ratioPseudoDay: number;
  /** The profile's ratio reads the last this many hours of the day (Infinity: the whole day so far). */
  ratioHours: number;
  /** Prior weight of w0 in "days of evidence". */
  wPriorDays: number;
  /** 'auto' selects by past errors; a method name forces it. */
  select: 'auto' | MethodName;
  selectionMargin: number;
  /** Past days needed before a baseline may replace the profile method. */
  selectionMinDays: number;
  /** 'select' one method; blend all ('inverse') or profile with the best baseline ('pair'). */
  combine: 'select' | 'inverse' | 'pair';
  /** Blend weights ∝ MAPE^-inversePower. */
  inversePower: number;
  /** Profile remaining by the stacked regression (stack.ts) instead of the power form. */
  stack: boolean;
}

export const DEFAULT_CALIBRATION: CalibrationOptions = {
  days: 28,
  halfLifeDays: 14,
  ratioPseudoDay: 0.02,
  ratioHours: 6,
  wPriorDays: 2,
  select: 'auto',
  selectionMargin: 0.1,
  selectionMinDays: 5,
  combine: 'select',
  inversePower: 2,
  stack: false,
};

export interface Calibration {
  hour: number;
  params: ProfileParams;
  /** Weights of the methods in the forecast (geometric blend of their day totals). */
  mix: Mix;
  /** Honest recency-weighted MAPE (%) per method on the calibration days (NaN without days). */
  mape: Record<MethodName, number>;
  /** Honest log(actual / forecast) of the blend on past days, oldest first, with their weights. */
  residuals: number[];
  weights: number[];
}

const W_GRID = Array.from({ length: 21 }, (_, i) => i / 20);

interface Obs {
  prior: DayPrior;
  obs: DayObs;
  actual: number;
  weight: number;
}

/**
 * Calibrates hour h for forecasting day `today`, from the whole days of `hist` before it
 * and their priors (priors[i] belongs to day hist.firstDay + i, null when it had none).
 */
export function calibrateHour(
  hist: DayHistory,
  priors: readonly (DayPrior | null)[],
  today: DayPrior,
  h: number,
  o: CalibrationOptions,
  minHistoryDays: number,
): Calibration {
  const obs: Obs[] = [];
  const end = Math.min(hist.rows.length, today.day - hist.firstDay);
  for (let i = Math.max(0, end - o.days); i < end; i++) {
    const prior = priors[i] ?? null;
    const row = hist.rows[i];
    const actual = hist.totals[i] ?? 0;
    if (prior === null || row === undefined || prior.historyDays < minHistoryDays || !(actual > 0)) continue;
    const from = Math.max(0, h - o.ratioHours);
    const cum = cumAtHour(row, h);
    const day: DayObs = { h, cum, recent: cum - cumAtHour(row, from), from };
    obs.push({ prior, obs: day, actual, weight: Math.pow(0.5, (today.day - 1 - prior.day) / o.halfLifeDays) });
  }
  const k = o.ratioPseudoDay;
  const predictWith = (m: MethodName, x: Obs, pp: ProfileParams): number =>
    dayTotal(m, x.prior, x.obs, pp) ?? (dayTotal('linear', x.prior, x.obs, pp) ?? x.obs.cum);
  const predict = (m: MethodName, x: Obs, w: number): number => predictWith(m, x, { w, k, beta: null });
  /** The profile's parameters fitted on obs[0, upto) (w0: the prior trust). */
  const paramsUpTo = (upto: number, w0: number): ProfileParams => {
    const w = chooseW(upto, w0);
    return { w, k, beta: o.stack ? fitStack(obs.slice(0, upto), w0, k, o.wPriorDays) : null };
  };
  // ape[g][j]: the profile's error on day j with w = W_GRID[g] (days' errors do not depend
  // on which days calibrate, so nested fits only re-sum them).
  const gridApe = W_GRID.map((w) => obs.map((x) => Math.abs(predict('profile', x, w) - x.actual) / x.actual));
  const chooseW = (upto: number, w0: number): number => {
    if (upto === 0) return w0;
    let best = w0;
    let bestLoss = Infinity;
    W_GRID.forEach((w, g) => {
      let loss = 0;
      for (let j = 0; j < upto; j++) loss += (obs[j]?.weight ?? 0) * (gridApe[g]?.[j] ?? 0);
      if (loss < bestLoss) [best, bestLoss] = [w, loss];
    });
    return (upto * best + o.wPriorDays * w0) / (upto + o.wPriorDays);
  };
  // Honest per-day forecasts of every method: profile with the w it would have had then.
  const preds: Record<MethodName, number[]> = { profile: [], linear: [], snaive1: [], snaive7: [] };
  obs.forEach((x, j) => {
    const pj = paramsUpTo(j, curveAt(x.prior.curves.profile, h));
    for (const m of METHODS) preds[m].push(Math.max(predictWith(m, x, pj), 1e-12));
  });
  const weights = obs.map((x) => x.weight);
  const ape = (p: number, j: number): number => Math.abs(p - (obs[j]?.actual ?? 0)) / (obs[j]?.actual ?? 1);
  /** Recency-weighted MAPE (%) of each method over days [0, upto). */
  const mapeUpTo = (upto: number): Record<MethodName, number> => {
    const out = { profile: NaN, linear: NaN, snaive1: NaN, snaive7: NaN };
    let wsum = 0;
    for (let j = 0; j < upto; j++) wsum += weights[j] ?? 0;
    if (wsum > 0) for (const m of METHODS) out[m] = (100 * preds[m].slice(0, upto).reduce((a, p, j) => a + ape(p, j) * (weights[j] ?? 0), 0)) / wsum;
    return out;
  };
  // At the very start of a day the ratio methods have nothing to divide: profile only.
  const mixAt = (upto: number): Mix => (h > 0 ? mix(mapeUpTo(upto), upto, o) : onehot('profile'));
  const blend = (m: Mix, j: number): number => Math.exp(METHODS.reduce((a, k) => a + m[k] * Math.log(preds[k][j] ?? 1), 0));
  const residuals = obs.map((x, j) => Math.log(x.actual / blend(mixAt(j), j)));
  const params = paramsUpTo(obs.length, curveAt(today.curves.profile, h));
  return { hour: h, params, mix: mixAt(obs.length), mape: mapeUpTo(obs.length), residuals, weights };
}

export type Mix = Record<MethodName, number>;

function onehot(m: MethodName): Mix {
  const out = { profile: 0, linear: 0, snaive1: 0, snaive7: 0 };
  out[m] = 1;
  return out;
}

/** The combination of methods that past errors support (see the module comment). */
function mix(mape: Record<MethodName, number>, days: number, o: CalibrationOptions): Mix {
  if (o.select !== 'auto') return onehot(o.select);
  if (days < o.selectionMinDays) return onehot('profile');
  let best: MethodName = 'profile';
  for (const m of METHODS) if (mape[m] < mape[best] * (best === 'profile' ? 1 - o.selectionMargin : 1)) best = m;
  if (o.combine === 'select') return onehot(best);
  if (o.combine === 'inverse') {
    const inv = METHODS.map((m) => Math.pow(Math.max(mape[m], 1e-6), -o.inversePower));
    const sum = inv.reduce((a, b) => a + b, 0);
    return Object.fromEntries(METHODS.map((m, i) => [m, (inv[i] ?? 0) / sum])) as Mix;
  }
  // 'pair': profile with the best baseline, weighted by inverse MAPE.
  let bb: MethodName = 'linear';
  for (const m of METHODS) if (m !== 'profile' && mape[m] < mape[bb]) bb = m;
  const a = Math.pow(mape.profile, -o.inversePower);
  const b = Math.pow(mape[bb], -o.inversePower);
  const out = onehot('profile');
  out.profile = a / (a + b);
  out[bb] = b / (a + b);
  return out;
}

/**
 * Per-hour calibration from the forecaster's own history, walk-forward so nothing at or
 * after the forecast day is used:
 *
 *  - w: the profile method's trust in today's observed ratio at hour h, chosen on a grid to
 *    minimise the recency-weighted mean APE over past days at the same hour, shrunk toward
 *    a prior (the expected share of the day already spent) when there are few such days;
 *  - combination: every method's *honest* past errors (for every past day, the w it would
 *    have used then, fitted on the days before it), recency-weighted, give inverse-MSE
 *    weights for a geometric blend of their day totals. The weights start from a prior
 *    (profile, and linear where the history's shape is nearly flat by hour h) worth
 *    `priorDays` days, so a few lucky days cannot hand the forecast to one method. A method
 *    that explodes on bursty spend (snaive dividing by a tiny fraction) loses its weight as
 *    its errors come in. Combining beat selecting one method on the evaluation harness
 *    (bench/forecast/run.ts), most of all with little history;
 *  - point scale: the APE-optimal multiplier of the blend, from the same honest errors;
 *  - residuals: honest log((actual + δ) / (forecast + δ)) of the rest of the day after h, by what would
 *    have been used on those days, for the p10/p90 band (which spreads that rest only).
 */
import {
  dayTotal,
  METHODS,
  robustTotal,
  type DayHistory,
  type DayObs,
  type DayPrior,
  type MethodName,
  type ProfileParams,
} from './methods.ts';
import { cumAtHour, curveAt, roughness } from './shape.ts';
import { weightedQuantile } from './level.ts';

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
  /** 'online' weights every method by its past errors; 'select' keeps the best one. */
  combine: 'online' | 'select';
  /** Days of evidence the prior weights count as (the data's weights take over as days accrue). */
  priorDays: number;
  /** Prior weight of the profile method where the shape is flat; linear has the rest. */
  priorProfile: number;
  /** Log-distance from flat at which linear's prior weight halves. */
  priorSpread: number;
  /** Roughness (shape.ts) at which a shape no longer counts as evidence against linear (Infinity: always counts). */
  roughnessMax: number;
  /** Days of evidence behind the prior point scale of 1 (Infinity: no APE correction). */
  pointPriorDays: number;
  /**
   * Where the profile's prior trust in today's pace comes from: 'share' (the expected share of
   * the day already spent, C(h)), or 'precision' (how regular past days were: the day-to-day
   * spread of their totals against the spread of their partial at this hour, see spreads()
   * and methods.ts's dayScale).
   */
  trust: 'share' | 'precision';
  /** 'precision': the prior log spread of a day's total around its level (day-to-day)… */
  levelSdPrior: number;
  /** …and of the partial's pace, κ·√((1 − c)/c) for c the share of the day the ratio reads… */
  paceSdScale: number;
  /** …each worth this many days against the history's own spreads. */
  spreadPriorDays: number;
  /** 'precision': prior probability that a day's level moved (a shift, not a swing)… */
  jumpProb: number;
  /** …and the log spread of such a move. */
  jumpSd: number;
  /** 'select': a baseline must beat the profile by this share of its MAPE… */
  selectionMargin: number;
  /** …over at least this many past days. */
  selectionMinDays: number;
}

export const DEFAULT_CALIBRATION: CalibrationOptions = {
  days: 28,
  halfLifeDays: 14,
  ratioPseudoDay: 0.02,
  ratioHours: 6,
  wPriorDays: 2,
  combine: 'online',
  priorDays: 20,
  priorProfile: 0.85,
  priorSpread: 0.1,
  roughnessMax: 0.4,
  selectionMargin: 0.1,
  selectionMinDays: 5,
  pointPriorDays: 5,
  trust: 'precision',
  levelSdPrior: 0.15,
  paceSdScale: 0.1,
  spreadPriorDays: 1,
  jumpProb: 0.05,
  jumpSd: 1,
};

export interface Calibration {
  hour: number;
  params: ProfileParams;
  /** Weights of the methods in the forecast (geometric blend of their day totals). */
  mix: Mix;
  /** Honest recency-weighted MAPE (%) per method on the calibration days (NaN without days). */
  mape: Record<MethodName, number>;
  /** Honest log((actual + δ) / (forecast + δ)) of the rest of the day after h (δ: restFloor), by the blend, on past days (oldest first), with their weights. */
  residuals: number[];
  weights: number[];
  /**
   * Multiplier of the blend's total that minimised the honest past absolute percentage
   * error, shrunk toward 1 by pointPriorDays: on heavy-tailed spend the APE-optimal point
   * is below the median, and only the series' own past says by how much.
   */
  pointScale: number;
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
  const todayFrom = Math.max(0, h - o.ratioHours);
  const end = Math.min(hist.rows.length, today.day - hist.firstDay);
  for (let i = Math.max(0, end - o.days); i < end; i++) {
    const prior = priors[i] ?? null;
    const row = hist.rows[i];
    const actual = hist.totals[i] ?? 0;
    if (prior === null || row === undefined || prior.historyDays < minHistoryDays || !(actual > 0)) continue;
    const from = Math.max(0, h - o.ratioHours);
    const cum = cumAtHour(row, h);
    const robust = o.trust === 'precision' ? robustTotal(row, prior.curves.profile, h, prior.level) : null;
    const day: DayObs = { h, cum, recent: cum - cumAtHour(row, from), from, ...(robust === null ? {} : { robust }) };
    obs.push({ prior, obs: day, actual, weight: Math.pow(0.5, (today.day - 1 - prior.day) / o.halfLifeDays) });
  }
  const k = o.ratioPseudoDay;
  const predictWith = (m: MethodName, x: Obs, pp: ProfileParams): number =>
    dayTotal(m, x.prior, x.obs, pp) ?? dayTotal('linear', x.prior, x.obs, pp) ?? x.obs.cum;
  const predict = (m: MethodName, x: Obs, w: number): number => predictWith(m, x, { w, k });
  /** The profile's parameters fitted on obs[0, upto) (w0: the prior trust). */
  const paramsUpTo = (upto: number, w0: number): ProfileParams => {
    return { w: chooseW(upto, w0), k };
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
  /** The prior trust in today's pace for a day with prior p, from the days [0, upto) before it. */
  const paramsFor = (p: DayPrior, upto: number): ProfileParams => {
    if (o.trust === 'share') return paramsUpTo(upto, curveAt(p.curves.profile, h));
    const v = spreads(obs.slice(0, upto), p, h, todayFrom, o);
    const paceVarAll = spreads(obs.slice(0, upto), p, h, 0, o).paceVar;
    const w0 = v.levelVar / (v.levelVar + v.paceVar);
    // The ordinary days' trust: the precision weight, taken over by the grid's honest choice as days accrue.
    return { w: chooseW(upto, w0), k, ...v, paceVarAll, jumpProb: o.jumpProb, jumpSd: o.jumpSd };
  };
  // Honest per-day forecasts of every method: profile with the w it would have had then.
  const preds: Record<MethodName, number[]> = { profile: [], linear: [], snaive1: [], snaive7: [] };
  obs.forEach((x, j) => {
    const pj = paramsFor(x.prior, j);
    for (const m of METHODS) preds[m].push(Math.max(predictWith(m, x, pj), 1e-12));
  });
  const weights = obs.map((x) => x.weight);
  const ape = (p: number, j: number): number => Math.abs(p - (obs[j]?.actual ?? 0)) / (obs[j]?.actual ?? 1);
  /** Recency-weighted MAPE (%) of each method over days [0, upto). */
  const mapeUpTo = (upto: number): Record<MethodName, number> => {
    const out = { profile: NaN, linear: NaN, snaive1: NaN, snaive7: NaN };
    let wsum = 0;
    for (let j = 0; j < upto; j++) wsum += weights[j] ?? 0;
    if (wsum > 0)
      for (const m of METHODS) out[m] = (100 * preds[m].slice(0, upto).reduce((a, p, j) => a + ape(p, j) * (weights[j] ?? 0), 0)) / wsum;
    return out;
  };
  // At the very start of a day the ratio methods have nothing to divide: profile only.
  /** Recency-weighted mean squared log error of each method over days [0, upto). */
  const mseUpTo = (upto: number): Record<MethodName, number> => {
    const out = { profile: NaN, linear: NaN, snaive1: NaN, snaive7: NaN };
    let wsum = 0;
    for (let j = 0; j < upto; j++) wsum += weights[j] ?? 0;
    if (wsum > 0)
      for (const m of METHODS)
        out[m] = preds[m].slice(0, upto).reduce((a, p, j) => a + (weights[j] ?? 0) * Math.log((obs[j]?.actual ?? 1) / p) ** 2, 0) / wsum;
    return out;
  };
  // At the very start of a day the ratio methods have nothing to divide: profile only.
  // A jagged shape (bursts, few requests an hour) is weak evidence against a flat day.
  const flatGap =
    Math.abs(Math.log(Math.max(h / 24, 1e-9) / Math.max(curveAt(today.curves.profile, h), 1e-9))) *
    Math.max(0, 1 - roughness(today.curves.profile) / o.roughnessMax);
  const mixAt = (upto: number): Mix => (h > 0 ? mix(mseUpTo(upto), mapeUpTo(upto), upto, flatGap, o) : onehot('profile'));
  const blend = (m: Mix, j: number): number => Math.exp(METHODS.reduce((a, k) => a + m[k] * Math.log(preds[k][j] ?? 1), 0));
  // On what was left of the day at h: the band spreads the unknown part, not the spend already seen.
  // Read as log(rest + δ), δ a small share of the day (REST_FLOOR): after hours both the rest
  // and its forecast are near zero, and the log of their ratio would be noise of any size.
  const residuals = obs.map((x, j) => {
    const d = restFloor(x.prior.level, x.actual);
    return Math.log((Math.max(0, x.actual - x.obs.cum) + d) / (Math.max(0, blend(mixAt(j), j) - x.obs.cum) + d));
  });
  const params = paramsFor(today, obs.length);
  const totals = obs.map((x, j) => Math.log(x.actual / blend(mixAt(j), j)));
  const pointScale = apeOptimalScale(totals, weights, o.pointPriorDays);
  return { hour: h, params, mix: mixAt(obs.length), mape: mapeUpTo(obs.length), residuals, weights, pointScale };
}

export type Mix = Record<MethodName, number>;

/**
 * The band spreads log(rest + δ), δ this share of the day's level: a rest of the day under
 * 1% of it is within any day's noise, so a forecast of nothing left and one of a speck left
 * do not count as far apart (they were e^20 apart on a service with no spend after 17:00).
 */
export const REST_FLOOR = 0.01;

/** δ for a day whose prior level is `level` (`fallback` when it has none: a past day's own total). */
export function restFloor(level: number, fallback: number): number {
  return REST_FLOOR * (level > 0 ? level : Math.max(0, fallback));
}

/**
 * How much to trust today's pace over the days before, as a precision weight: the total is a
 * prior from the previous days (their level) updated by today's partial, so the weight of the
 * partial is σ²_level / (σ²_level + σ²_pace), where σ_level is how far whole days stray from
 * their level (log, day to day) and σ_pace how far a day's partial over the profile's ratio
 * window strays from the share the shape expects there. A regular series (days within a few %,
 * a noisy small night) follows the days before at 6 a.m. and today's pace by evening; an
 * irregular one (days ±30 %) leans on the pace sooner. Both spreads start from priors worth
 * spreadPriorDays days, so a young series is neither blindly trusted nor ignored.
 */
function spreads(past: readonly Obs[], p: DayPrior, h: number, from: number, o: CalibrationOptions): { levelVar: number; paceVar: number } {
  // A shape that is done by h (no spend after office hours) has c = 1, or a hair above it
  // from rounding: the pace's prior spread must stay a small positive number, not 0 or NaN.
  const c = Math.min(1 - 1e-3, Math.max(1e-6, curveAt(p.curves.profile, h) - curveAt(p.curves.profile, from)));
  let lv = 0;
  let pv = 0;
  let n = 0;
  for (const x of past) {
    // from = 0: the whole day so far; otherwise the profile's own ratio window.
    const ce = curveAt(x.prior.curves.profile, h) - curveAt(x.prior.curves.profile, from === 0 ? 0 : x.obs.from);
    if (!(x.prior.level > 0) || !(ce > 0)) continue;
    lv += Math.log(x.actual / x.prior.level) ** 2;
    // from = 0: the robust whole-day reading (methods.ts robustTotal) when there is one.
    const share = from === 0 ? (x.obs.robust !== undefined ? x.obs.robust * ce : x.obs.cum) : x.obs.recent;
    pv += Math.log(Math.max(1e-3 * ce, share / x.actual) / ce) ** 2;
    n++;
  }
  const level2 = pooledVar(lv, n, o.levelSdPrior ** 2, o.spreadPriorDays);
  const pace2 = pooledVar(pv, n, o.paceSdScale ** 2 * ((1 - c) / c), o.spreadPriorDays);
  return { levelVar: Math.max(1e-6, level2), paceVar: Math.max(1e-6, pace2) };
}

/**
 * A spread measured on n days (sum of squares `ss`) pooled with a prior variance worth k days,
 * in log space: a variance is a scale, so a series ten times more regular than the prior
 * leaves it as fast as one ten times less regular (an arithmetic mean of variances is pulled
 * up by the prior and kept a regular young series leaning on its noisy morning for a week).
 * One day's squared error can be near zero by chance, so the measured side is floored at 1%
 * of the prior (a tenth of its spread).
 */
export function pooledVar(ss: number, n: number, prior: number, k: number): number {
  if (!(prior > 0)) return n > 0 ? ss / n : 0;
  if (n === 0) return prior;
  return Math.exp((n * Math.log(Math.max(ss / n, 0.01 * prior)) + k * Math.log(prior)) / (n + k));
}

function onehot(m: MethodName): Mix {
  const out = { profile: 0, linear: 0, snaive1: 0, snaive7: 0 };
  out[m] = 1;
  return out;
}

/**
 * Weights for the methods from their past squared log errors (inverse-MSE, the classic
 * forecast combination), shrunk toward the prior weights: with `days` of evidence against
 * `priorDays`, the data get days / (days + priorDays) of the say.
 */
function mix(mse: Record<MethodName, number>, mape: Record<MethodName, number>, days: number, flatGap: number, o: CalibrationOptions): Mix {
  // Before any evidence, linear (the one baseline that cannot explode: no division by a
  // small past fraction) shares the prior where the day's shape is nearly flat by hour h,
  // and fades where the shape says it would be far off (flatGap = |log(h/24 ÷ C(h))|).
  const prior = onehot('profile');
  const s2 = o.priorSpread ** 2;
  prior.linear = ((1 - o.priorProfile) * s2) / (s2 + flatGap * flatGap);
  prior.profile = 1 - prior.linear;
  if (!(days > 0)) return prior;
  if (o.combine === 'select') {
    // The profile is kept unless a baseline has been clearly better over enough days.
    if (days < o.selectionMinDays) return onehot('profile');
    let best: MethodName = 'profile';
    for (const m of METHODS) if (mape[m] < mape[best] * (best === 'profile' ? 1 - o.selectionMargin : 1)) best = m;
    return onehot(best);
  }
  const inv = METHODS.map((m) => 1 / Math.max(mse[m], 1e-6));
  const sum = inv.reduce((a, b) => a + b, 0);
  const a = days / (days + o.priorDays);
  return Object.fromEntries(METHODS.map((m, i) => [m, (a * (inv[i] ?? 0)) / sum + (1 - a) * prior[m]])) as Mix;
}

/**
 * argmin over m of Σ w·|m·e^{−r} − 1| (r = log(actual / forecast)): the weighted median of
 * e^{r} with weights w·e^{−r}, shrunk toward 1 in log space by n / (n + priorDays).
 */
function apeOptimalScale(r: readonly number[], w: readonly number[], priorDays: number): number {
  const n = r.length;
  if (n === 0 || !Number.isFinite(priorDays)) return 1;
  const ratios = r.map((v) => Math.exp(v));
  const ws = r.map((v, i) => (w[i] ?? 0) * Math.exp(-v));
  const m = weightedQuantile(ratios, ws, 0.5);
  if (!(m > 0)) return 1;
  return Math.exp((n / (n + priorDays)) * Math.log(m));
}

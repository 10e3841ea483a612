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
 *    forecaster falls back to the baseline that history favours;
 *  - residuals: log(actual / forecast) of the chosen method on those days, for p10/p90.
 */
import { dayTotal, METHODS, type DayHistory, type DayPrior, type MethodName } from './methods.ts';
import { cumAtHour, curveAt } from './shape.ts';

export interface CalibrationOptions {
  /** How many past days (at most) calibrate each hour. */
  days: number;
  halfLifeDays: number;
  /** Pseudo-count of the ratio, as a share of a day's level. */
  ratioPseudoDay: number;
  /** Prior weight of w0 in "days of evidence". */
  wPriorDays: number;
  /** 'auto' selects by past errors; a method name forces it. */
  select: 'auto' | MethodName;
  selectionMargin: number;
  /** Past days needed before a baseline may replace the profile method. */
  selectionMinDays: number;
}

export const DEFAULT_CALIBRATION: CalibrationOptions = {
  days: 28,
  halfLifeDays: 14,
  ratioPseudoDay: 0.02,
  wPriorDays: 2,
  select: 'auto',
  selectionMargin: 0.1,
  selectionMinDays: 5,
};

export interface Calibration {
  hour: number;
  w: number;
  method: MethodName;
  /** Honest recency-weighted MAPE (%) per method on the calibration days (NaN without days). */
  mape: Record<MethodName, number>;
  /** log(actual / forecast) of the chosen method, oldest first, with their weights. */
  residuals: number[];
  weights: number[];
}

const W_GRID = Array.from({ length: 21 }, (_, i) => i / 20);

interface Obs {
  prior: DayPrior;
  cum: number;
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
    obs.push({ prior, cum: cumAtHour(row, h), actual, weight: Math.pow(0.5, (today.day - 1 - prior.day) / o.halfLifeDays) });
  }
  const k = o.ratioPseudoDay;
  const predict = (m: MethodName, x: Obs, w: number): number =>
    dayTotal(m, x.prior, x.cum, h, w, k) ?? (dayTotal('linear', x.prior, x.cum, h, w, k) ?? x.cum);
  const chooseW = (upto: number, w0: number): number => {
    let best = w0;
    let bestLoss = Infinity;
    let n = 0;
    for (const w of W_GRID) {
      let loss = 0;
      n = 0;
      for (let j = 0; j < upto; j++) {
        const x = obs[j];
        if (x === undefined) continue;
        loss += (x.weight * Math.abs(predict('profile', x, w) - x.actual)) / x.actual;
        n++;
      }
      if (loss < bestLoss) [best, bestLoss] = [w, loss];
    }
    return n === 0 ? w0 : (n * best + o.wPriorDays * w0) / (n + o.wPriorDays);
  };
  const errs: Record<MethodName, number[]> = { profile: [], linear: [], snaive1: [], snaive7: [] };
  const logs: Record<MethodName, number[]> = { profile: [], linear: [], snaive1: [], snaive7: [] };
  obs.forEach((x, j) => {
    const wj = chooseW(j, curveAt(x.prior.curves.profile, h));
    for (const m of METHODS) {
      const p = predict(m, x, m === 'profile' ? wj : 0);
      errs[m].push(Math.abs(p - x.actual) / x.actual);
      logs[m].push(Math.log(x.actual / Math.max(p, 1e-12)));
    }
  });
  const weights = obs.map((x) => x.weight);
  const wsum = weights.reduce((a, b) => a + b, 0);
  const mape = Object.fromEntries(
    METHODS.map((m) => [m, wsum > 0 ? (100 * errs[m].reduce((a, e, j) => a + e * (weights[j] ?? 0), 0)) / wsum : NaN]),
  ) as Record<MethodName, number>;
  let method: MethodName = o.select === 'auto' ? 'profile' : o.select;
  if (o.select === 'auto' && obs.length >= o.selectionMinDays) {
    for (const m of METHODS) if (mape[m] < mape[method] * (method === 'profile' ? 1 - o.selectionMargin : 1)) method = m;
  }
  const w = chooseW(obs.length, curveAt(today.curves.profile, h));
  return { hour: h, w, method, mape, residuals: logs[method], weights };
}

/**
 * THE forecaster: one module for the proxy, the backtest and every command.
 *
 *   const f = fitForecaster(history, { now });             // refit on a schedule (e.g. hourly)
 *   f.projectWindow({ windowStart, windowEnd, now, spentSoFar })  → { p10, p50, p90, method, coldStart, … }
 *   f.exhaustionTime(limit, { windowStart, windowEnd, now, spentSoFar }) → epoch ms | null
 *
 * `history` is the spend series of one budget instance's scope (any bucket size; it is
 * re-bucketed hourly on the day grid); only buckets before `now` are used. The current day
 * is forecast by the method the calibration picks for the hour (see calibrate.ts); whole
 * future days inside the window add their mean level (level.ts, by weekday). With fewer
 * than `minHistoryDays` whole days it is a cold start: linear extrapolation of the window's
 * own rate, a wide band, and `coldStart: true`.
 */
import { calibrateHour, DEFAULT_CALIBRATION, type Calibration, type CalibrationOptions } from './calibrate.ts';
import { DEFAULT_LEVEL, weightedQuantile, type LevelOptions } from './level.ts';
import { blendedDay, dayPrior, METHODS, type BlendedDay, type DayHistory, type DayObs, type DayPrior, type MethodName } from './methods.ts';
import { dailyTable, DAY_MS, HOUR_MS, resampleHourly, sliceSeries, sumRange, type Series } from './series.ts';
import { curveAt, DEFAULT_SHAPE, type ShapeOptions } from './shape.ts';

export interface ModelConfig {
  level: LevelOptions;
  shape: ShapeOptions;
  calibration: CalibrationOptions;
  /** Whole days of history below which the forecaster cold-starts. */
  minHistoryDays: number;
  /** Fewer calibration residuals than this widen the band toward the cold-start band. */
  minResiduals: number;
}

export const DEFAULT_CONFIG: ModelConfig = {
  level: DEFAULT_LEVEL,
  shape: DEFAULT_SHAPE,
  calibration: DEFAULT_CALIBRATION,
  minHistoryDays: 2,
  minResiduals: 5,
};

export interface ForecastOptions {
  /** The forecast instant (epoch or trace ms): history at or after it is ignored. */
  now: number;
  /** Days start at dayOffsetMs (mod 24 h) on the series clock: −UTC offset for local midnight. */
  dayOffsetMs?: number;
  config?: Partial<ModelConfig>;
}

export interface WindowQuery {
  windowStart: number;
  windowEnd: number;
  now: number;
  /** Spend already in the window at `now`. */
  spentSoFar: number;
}

export interface Projection {
  /** Projected end-of-window spend (p50 is the point forecast; p10 ≥ spentSoFar). */
  p10: number;
  p50: number;
  p90: number;
  /** The day method used (`profile`, `linear`, `snaive1`, `snaive7`; `linear` on a cold start). */
  method: string;
  coldStart: boolean;
  /** Whole days of history behind the forecast. */
  historyDays: number;
  /** Past days whose errors shaped the band (0 on a cold start: the band is a default). */
  calibrationDays: number;
  /** Why the forecast is degraded, when it is. */
  note?: string;
}

export interface Forecaster {
  readonly fittedAt: number;
  readonly coldStart: boolean;
  readonly historyDays: number;
  projectWindow(q: WindowQuery): Projection;
  /** When the p50 path of cumulative spend reaches `limit` (≤ windowEnd), else null. */
  exhaustionTime(limit: number, q: WindowQuery): number | null;
}

/** Cold-start band around the linear projection's remaining spend: wide on purpose. */
const COLD_BAND = [0.3, 3] as const;

export function fitForecaster(history: Series, opts: ForecastOptions): Forecaster {
  const cfg: ModelConfig = { ...DEFAULT_CONFIG, ...opts.config };
  const off = opts.dayOffsetMs ?? 0;
  const now = opts.now;
  const hourly = resampleHourly(sliceSeries(history, -Infinity, now), off);
  const todayIdx = Math.floor((now - off) / DAY_MS);
  const todayStart = todayIdx * DAY_MS + off;
  const past = sliceSeries(hourly, -Infinity, todayStart);
  const table = dailyTable(past, off);
  const hist: DayHistory = { firstDay: table.firstDay, rows: table.rows, totals: table.totals };
  const priorOpts = { level: cfg.level, shape: cfg.shape };
  const today = dayPrior(hist, todayIdx, priorOpts);
  const historyDays = today?.historyDays ?? 0;
  const cold = today === null || historyDays < cfg.minHistoryDays;
  const priors = cold ? [] : table.rows.map((_, i) => dayPrior(hist, table.firstDay + i, priorOpts));
  const calibrations = new Map<number, Calibration>();
  const calibrate = (h: number): Calibration => {
    const key = Math.round(h * 12) / 12; // 5-minute resolution is plenty for the band and w
    let c = calibrations.get(key);
    if (c === undefined && today !== null) {
      c = calibrateHour(hist, priors, today, key, cfg.calibration, cfg.minHistoryDays);
      calibrations.set(key, c);
    }
    if (c === undefined) throw new Error('unreachable: calibrate without a prior');
    return c;
  };
  // Today's spend observed in the history (up to `now`), to read the day's ratio.
  const todayCumAtFit = sumRange(hourly, todayStart, now);

  /** Piecewise-linear p50 path of future spend: [t, cumulative remaining] knots from q.now. */
  let todayBlend: BlendedDay | null = null;
  const path = (q: WindowQuery, c: Calibration | null, todayCum: number): [number, number][] => {
    todayBlend = null;
    const knots: [number, number][] = [[q.now, 0]];
    let acc = 0;
    let t = q.now;
    while (t < q.windowEnd) {
      const day = Math.floor((t - off) / DAY_MS);
      const ds = day * DAY_MS + off;
      const next = Math.min(q.windowEnd, ds + DAY_MS, Math.floor((t - ds) / HOUR_MS) * HOUR_MS + ds + HOUR_MS);
      const h0 = (t - ds) / HOUR_MS;
      const h1 = (next - ds) / HOUR_MS;
      acc += segment(day, h0, h1, c, todayCum);
      knots.push([next, acc]);
      t = next;
    }
    return knots;
  };
  /** Today's observation at hour h with `cum` spent (spend after the fit is in the ratio window). */
  const todayObs = (h: number, cum: number): DayObs => {
    const from = Math.max(0, h - cfg.calibration.ratioHours);
    return { h, cum, recent: cum - sumRange(hourly, todayStart, todayStart + from * HOUR_MS), from };
  };
  const futurePriors = new Map<number, DayPrior | null>();
  const segment = (day: number, h0: number, h1: number, c: Calibration | null, todayCum: number): number => {
    if (cold || today === null) return 0; // cold start handled by the caller
    if (day === todayIdx) {
      if (c === null) return 0;
      // Read at the query's own hour (h0 of the first segment is q.now).
      const b = todayBlend ?? (todayBlend = blendedDay(c.mix, today, todayObs(h0, todayCum), c.params));
      return (b.total - todayCum) * b.share(h0, h1);
    }
    let p = futurePriors.get(day);
    if (p === undefined) {
      p = dayPrior(hist, day, priorOpts);
      futurePriors.set(day, p);
    }
    return p === null ? 0 : p.levelMean * (curveAt(p.curves.profile, h1) - curveAt(p.curves.profile, h0));
  };

  /** The p50 path for a query, and the calibration of its hour when it falls in the fitted day. */
  const pathFor = (q: WindowQuery, spent: number): { knots: [number, number][]; calibration: Calibration | null } => {
    const hNow = (q.now - todayStart) / HOUR_MS;
    const c = hNow < 24 ? calibrate(hNow) : null;
    // Spend since the fit (in spentSoFar but not in history) counts toward today's ratio.
    const sinceFit = Math.max(0, spent - sumRange(hourly, q.windowStart, now));
    return { knots: path(q, c, todayCumAtFit + sinceFit), calibration: c };
  };

  const projectWindow = (q: WindowQuery): Projection => {
    checkQuery(q, now);
    const spent = Math.max(0, q.spentSoFar);
    if (q.now >= q.windowEnd) return { p10: spent, p50: spent, p90: spent, method: 'closed', coldStart: cold, historyDays, calibrationDays: 0 };
    if (cold || today === null) return coldProjection(q, spent, hourly, historyDays);
    // Spend since the fit (in spentSoFar but not in history) counts toward today's ratio.
    const knots = pathFor(q, spent);
    const c = knots.calibration;
    const rem = knots.knots[knots.knots.length - 1]?.[1] ?? 0;
    const p50 = spent + rem;
    // Past the fitted day (a refit is overdue) the whole rest is level-only: default band.
    if (c === null) {
      return { p10: spent + rem * 0.5, p50, p90: spent + rem * 2, method: 'level', coldStart: false, historyDays, calibrationDays: 0, note: 'forecast made past the fitted day: refit' };
    }
    const [lo, hi] = band(c, cfg.minResiduals);
    return {
      p10: Math.max(spent, p50 * Math.exp(lo)),
      p50,
      p90: Math.max(p50, p50 * Math.exp(hi)),
      method: mixLabel(c.mix),
      coldStart: false,
      historyDays,
      calibrationDays: c.residuals.length,
    };
  };

  const exhaustionTime = (limit: number, q: WindowQuery): number | null => {
    checkQuery(q, now);
    if (q.spentSoFar >= limit) return q.now;
    if (q.now >= q.windowEnd) return null;
    let knots: [number, number][];
    if (cold || today === null) {
      const p = coldProjection(q, Math.max(0, q.spentSoFar), hourly, historyDays);
      knots = [[q.now, 0], [q.windowEnd, p.p50 - q.spentSoFar]];
    } else {
      knots = pathFor(q, Math.max(0, q.spentSoFar)).knots;
    }
    const need = limit - q.spentSoFar;
    for (let i = 1; i < knots.length; i++) {
      const [t0, a0] = knots[i - 1] ?? [0, 0];
      const [t1, a1] = knots[i] ?? [0, 0];
      if (a1 >= need && a1 > a0) return t0 + ((need - a0) / (a1 - a0)) * (t1 - t0);
    }
    return null;
  };

  return { fittedAt: now, coldStart: cold, historyDays, projectWindow, exhaustionTime };
}

/** log-space band [p10, p90] offsets from the calibration residuals, widened when they are few. */
function band(c: Calibration, minResiduals: number): [number, number] {
  const wide: [number, number] = [Math.log(0.5), Math.log(2)];
  const n = c.residuals.length;
  if (n === 0) return wide;
  // Residuals are relative to the p50 itself: centre them so p50 stays the point forecast.
  const med = weightedQuantile(c.residuals, c.weights, 0.5);
  let lo = Math.min(0, weightedQuantile(c.residuals, c.weights, 0.1) - med);
  let hi = Math.max(0, weightedQuantile(c.residuals, c.weights, 0.9) - med);
  if (n < minResiduals) {
    const a = n / minResiduals;
    lo = a * lo + (1 - a) * wide[0];
    hi = a * hi + (1 - a) * wide[1];
  }
  return [lo, hi];
}

/** Linear extrapolation of the window's own observed rate, with a wide band. */
function coldProjection(q: WindowQuery, spent: number, hourly: Series, historyDays: number): Projection {
  const from = Math.max(q.windowStart, hourly.start);
  const elapsed = q.now - from;
  let rate = elapsed > 0 ? spent / elapsed : 0;
  if (!(rate > 0)) {
    // Nothing in the window yet: the last day of history's average rate, if any.
    const back = Math.max(hourly.start, q.now - DAY_MS);
    rate = q.now > back ? sumRange(hourly, back, q.now) / (q.now - back) : 0;
  }
  const rem = rate * (q.windowEnd - q.now);
  return {
    p10: spent + COLD_BAND[0] * rem,
    p50: spent + rem,
    p90: spent + COLD_BAND[1] * rem,
    method: 'linear',
    coldStart: true,
    historyDays,
    calibrationDays: 0,
    note: `cold start: ${historyDays} whole day(s) of history; linear extrapolation with a wide band`,
  };
}

function checkQuery(q: WindowQuery, fittedAt: number): void {
  for (const k of ['windowStart', 'windowEnd', 'now', 'spentSoFar'] as const) {
    if (!Number.isFinite(q[k])) throw new RangeError(`${k} must be finite, got ${String(q[k])}`);
  }
  if (q.windowEnd <= q.windowStart) throw new RangeError('windowEnd must be after windowStart');
  if (q.now < fittedAt) throw new RangeError('now is before the fit: refit with the earlier instant');
}

/** `profile`, or `blend(profile 0.70, linear 0.30)` when several methods carry weight. */
function mixLabel(mix: Readonly<Record<MethodName, number>>): string {
  const used = METHODS.filter((m) => mix[m] > 0.005);
  if (used.length === 1) return used[0] ?? 'profile';
  return `blend(${used.map((m) => `${m} ${mix[m].toFixed(2)}`).join(', ')})`;
}

export type { MethodName };

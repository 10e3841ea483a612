/**
 * THE forecaster: one module for the proxy, the backtest and every command.
 *
 *   const f = fitForecaster(history, { now });                     // refit on a schedule
 *   f.projectWindow({ windowStart, windowEnd, now, spentSoFar })   // → { p10, p50, p90, method, coldStart, … }
 *   f.exhaustionTime(limit, { windowStart, windowEnd, now, spentSoFar })  // → ms | null
 *
 * `history` is the spend series of one budget instance's scope, in any bucket size (it is
 * re-bucketed hourly on the day grid); only what lies before `now` is used. The rest of the
 * current day comes from the per-hour combination of methods (calibrate.ts: the profile and
 * the naive rules, weighted by their honest past errors from a prior); whole later days in
 * the window add their mean level by weekday (level.ts) spread by the intraday shape. The
 * p10–p90 band spreads the rest of the window by the same honest errors.
 *
 * Degraded modes, always flagged: with no whole day of history (below minHistoryDays) the
 * window's own rate is extrapolated linearly; below coldStartDays (default 2) the forecast is
 * `coldStart: true` with a wide band (with one day, the profile uses yesterday's level and
 * shape, combined with linear: it scores better than linear alone, see bench/forecast/run.ts).
 */
import { calibrateHour, DEFAULT_CALIBRATION, restFloor, type Calibration, type CalibrationOptions } from './calibrate.ts';
import { DEFAULT_LEVEL, weightedQuantile, type LevelOptions } from './level.ts';
import {
  blendedDay,
  dayPrior,
  dayTotal,
  levelMoved,
  METHODS,
  robustTotal,
  type BlendedDay,
  type ProfileParams,
  type DayHistory,
  type DayObs,
  type DayPrior,
  type MethodName,
} from './methods.ts';
import { DAY_MS, HOUR_MS } from '../core/time.ts';
import { dailyTable, resampleHourly, sliceSeries, sumRange, type Series } from './series.ts';
import { curveAt, DEFAULT_SHAPE, type ShapeOptions } from './shape.ts';

export interface ModelConfig {
  level: LevelOptions;
  shape: ShapeOptions;
  calibration: CalibrationOptions;
  /** Whole days of history below which the window's rate is extrapolated linearly. */
  minHistoryDays: number;
  /** Whole days of history below which the forecast is flagged coldStart (wide band). */
  coldStartDays: number;
  /** Fewer calibration residuals than this widen the band toward the prior band… */
  minResiduals: number;
  /** …whose width is this many times the methods' disagreement (priorBand). */
  bandPriorScale: number;
}

export const DEFAULT_CONFIG: ModelConfig = {
  level: DEFAULT_LEVEL,
  shape: DEFAULT_SHAPE,
  calibration: DEFAULT_CALIBRATION,
  minHistoryDays: 1,
  coldStartDays: 2,
  minResiduals: 5,
  bandPriorScale: 3,
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
  /** ≥ the fit's `now`; spend after the fit reaches the forecast through spentSoFar. */
  now: number;
  /** Spend already in the window at `now`. */
  spentSoFar: number;
}

export interface Projection {
  /** Projected end-of-window spend; p50 is the point forecast; spentSoFar ≤ p10 ≤ p50 ≤ p90. */
  p10: number;
  p50: number;
  p90: number;
  /** `profile`, `linear`, `snaive1`, `snaive7`, or `blend(…)`; `linear` on a no-history start. */
  method: string;
  coldStart: boolean;
  /** Whole days of history behind the forecast. */
  historyDays: number;
  /** Past days whose honest errors shaped the band (0: the band is the default wide one). */
  calibrationDays: number;
  /** Why the forecast is degraded, when it is. */
  note?: string;
  /** The model believes the level moved recently (today's pace trusted over the days before). */
  levelChanged?: boolean;
}

export interface Forecaster {
  readonly fittedAt: number;
  readonly coldStart: boolean;
  readonly historyDays: number;
  projectWindow(q: WindowQuery): Projection;
  /** When the p50 path of cumulative spend reaches `limit` (before windowEnd), else null. */
  exhaustionTime(limit: number, q: WindowQuery): number | null;
}

/** p10/p90 of a standard normal. */
const Z90 = 1.2816;

/**
 * The band before there are honest errors: the remainder spread `scale` times as far as the
 * methods disagree about it today (their log standard deviation), at least ±5%. Where the
 * profile, linear and seasonal rules agree (a steady series) the band is tight; where they
 * disagree by ×10 (bursts) it is wide. The disagreement understates the error about three-fold.
 */
function priorBand(disagreement: number, scale: number): [number, number] {
  const sd = Math.max(0.05, scale * disagreement);
  return [-Z90 * sd, Z90 * sd];
}

/**
 * No-history band around the linear projection's remaining spend: p10 and p90 of what was
 * then spent over what the pace extrapolated, on the series of data/ (each weighted alike;
 * observed 10 min to 8 h from every 10-minute start): bench/cold-start-band.ts.
 */
export const LINEAR_BAND: readonly [number, number] = [0.6, 7];

export function fitForecaster(history: Series, opts: ForecastOptions): Forecaster {
  const cfg: ModelConfig = { ...DEFAULT_CONFIG, ...opts.config };
  const off = opts.dayOffsetMs ?? 0;
  const now = opts.now;
  const hourly = resampleHourly(sliceSeries(history, -Infinity, now), off);
  const todayIdx = Math.floor((now - off) / DAY_MS);
  const todayStart = todayIdx * DAY_MS + off;
  const table = dailyTable(sliceSeries(hourly, -Infinity, todayStart), off);
  const hist: DayHistory = { firstDay: table.firstDay, rows: table.rows, totals: table.totals };
  const priorOpts = { level: cfg.level, shape: cfg.shape };
  const today = dayPrior(hist, todayIdx, priorOpts);
  const historyDays = today?.historyDays ?? 0;
  const noHistory = today === null || historyDays < cfg.minHistoryDays;
  const cold = noHistory || historyDays < cfg.coldStartDays;
  // Only the days calibration looks at need their own priors.
  const calFrom = table.rows.length - cfg.calibration.days;
  const priors = noHistory ? [] : table.rows.map((_, i) => (i >= calFrom ? dayPrior(hist, table.firstDay + i, priorOpts) : null));
  const calibrations = new Map<number, Calibration>();
  const calibrate = (p: DayPrior, h: number): Calibration => {
    const key = Math.round(h * 12) / 12; // 5-minute resolution is plenty for w, selection and band
    let c = calibrations.get(key);
    if (c === undefined) calibrations.set(key, (c = calibrateHour(hist, priors, p, key, cfg.calibration, cfg.minHistoryDays)));
    return c;
  };
  const todayCumAtFit = sumRange(hourly, todayStart, now);
  const todayObs = (h: number, cum: number): DayObs => {
    const from = Math.max(0, h - cfg.calibration.ratioHours);
    const row = Array.from({ length: Math.min(24, Math.floor(h)) }, (_, i) =>
      sumRange(hourly, todayStart + i * HOUR_MS, todayStart + (i + 1) * HOUR_MS),
    );
    const robust = today !== null && cfg.calibration.trust === 'precision' ? robustTotal(row, today.curves.profile, h, today.level) : null;
    return {
      h,
      cum,
      recent: cum - sumRange(hourly, todayStart, todayStart + from * HOUR_MS),
      from,
      ...(robust === null ? {} : { robust }),
    };
  };
  const laterDays = new Map<number, DayPrior | null>();
  const laterDay = (day: number): DayPrior | null => {
    if (!laterDays.has(day)) laterDays.set(day, dayPrior(hist, day, priorOpts));
    return laterDays.get(day) ?? null;
  };

  /** p50 path of future spend, [t, spend in [q.now, t)] knots at hour boundaries, and today's calibration. */
  const pathFor = (
    p: DayPrior,
    q: WindowQuery,
    spent: number,
  ): { knots: [number, number][]; cal: Calibration | null; disagreement: number; moved: number } => {
    const hNow = (q.now - todayStart) / HOUR_MS;
    const cal = hNow < 24 ? calibrate(p, hNow) : null;
    // Spend since the fit (in spentSoFar, not in history) counts toward today's observations.
    const cum = todayCumAtFit + Math.max(0, spent - sumRange(hourly, q.windowStart, now));
    let blend: BlendedDay | null = null;
    let disagreement = 0;
    let moved = 0;
    const knots: [number, number][] = [[q.now, 0]];
    let acc = 0;
    for (let t = q.now; t < q.windowEnd; ) {
      const day = Math.floor((t - off) / DAY_MS);
      const ds = day * DAY_MS + off;
      const next = Math.min(q.windowEnd, ds + (Math.floor((t - ds) / HOUR_MS) + 1) * HOUR_MS);
      const [h0, h1] = [(t - ds) / HOUR_MS, (next - ds) / HOUR_MS];
      if (day === todayIdx && cal !== null) {
        if (blend === null) {
          const obs = todayObs(h0, cum);
          blend = blendedDay(cal.mix, p, obs, cal.params);
          disagreement = methodSpread(p, obs, cal.params);
          moved = cal.mix.profile > 0 ? levelMoved(p, obs, cal.params) : 0;
        }
        acc += Math.max(0, blend.total * cal.pointScale - cum) * blend.share(h0, h1);
      } else if (day > todayIdx) {
        const later = laterDay(day);
        if (later !== null) acc += later.levelMean * (curveAt(later.curves.profile, h1) - curveAt(later.curves.profile, h0));
      }
      knots.push([next, acc]);
      t = next;
    }
    return { knots, cal, disagreement, moved };
  };

  const projectWindow = (q: WindowQuery): Projection => {
    checkQuery(q, now);
    const spent = Math.max(0, q.spentSoFar);
    if (q.now >= q.windowEnd)
      return { p10: spent, p50: spent, p90: spent, method: 'closed', coldStart: cold, historyDays, calibrationDays: 0 };
    if (noHistory || today === null) return linearProjection(q, spent, hourly, historyDays);
    const { knots, cal, disagreement, moved } = pathFor(today, q, spent);
    const p50 = spent + (knots[knots.length - 1]?.[1] ?? 0);
    const [lo, hi] =
      cal === null || cold
        ? priorBand(disagreement, cfg.bandPriorScale)
        : band(cal, cfg.minResiduals, priorBand(disagreement, cfg.bandPriorScale));
    // The band spreads what is left of the window, as log(rest + δ) (the calibration's
    // residuals are on that too, δ for the rest of a day). A window that ends before the day
    // does (a knot of the path) gets its share of δ by time, so the band closes at now.
    const dayEnd = (Math.floor((q.now - off) / DAY_MS) + 1) * DAY_MS + off;
    const d = restFloor(today.level, 0) * Math.min(1, (q.windowEnd - q.now) / (dayEnd - q.now));
    const out: Projection = {
      p10: Math.min(p50, spent + Math.max(0, (p50 - spent + d) * Math.exp(lo) - d)),
      p50,
      p90: Math.max(p50, spent + Math.max(0, (p50 - spent + d) * Math.exp(hi) - d)),
      method: cal === null ? 'level' : mixLabel(cal.mix),
      coldStart: cold,
      historyDays,
      calibrationDays: cold || cal === null ? 0 : cal.residuals.length,
      // Today's pace is far outside what the days before allow: the level moved (and is followed).
      levelChanged: moved > 0.5,
    };
    if (cold) out.note = `cold start: ${historyDays} whole day of history, yesterday's level and shape with a wide band`;
    else if (cal === null) out.note = 'forecast made past the fitted day: refit';
    return out;
  };

  const exhaustionTime = (limit: number, q: WindowQuery): number | null => {
    checkQuery(q, now);
    if (q.spentSoFar >= limit) return q.now;
    if (q.now >= q.windowEnd) return null;
    const spent = Math.max(0, q.spentSoFar);
    const knots =
      noHistory || today === null
        ? ([
            [q.now, 0],
            [q.windowEnd, linearProjection(q, spent, hourly, historyDays).p50 - spent],
          ] as [number, number][])
        : pathFor(today, q, spent).knots;
    const need = limit - spent;
    for (let i = 1; i < knots.length; i++) {
      const [t0, a0] = knots[i - 1] ?? [0, 0];
      const [t1, a1] = knots[i] ?? [0, 0];
      if (a1 >= need && a1 > a0) return t0 + ((need - a0) / (a1 - a0)) * (t1 - t0);
    }
    return null;
  };

  return { fittedAt: now, coldStart: cold, historyDays, projectWindow, exhaustionTime };
}

/**
 * log-space [p10, p90] offsets from the honest past errors. The quantile levels are the split
 * conformal ones, 0.9·(n+1)/n and its mirror: a handful of residuals understates the spread,
 * and this is the finite-sample correction that keeps 80% coverage. Below minResiduals the
 * offsets are pulled toward the prior band.
 */
function band(c: Calibration, minResiduals: number, prior: [number, number]): [number, number] {
  const n = c.residuals.length;
  if (n === 0) return prior;
  const sw = c.weights.reduce((a, b) => a + b, 0);
  const nEff = (sw * sw) / c.weights.reduce((a, b) => a + b * b, 0);
  const q = Math.min(1, (0.9 * (nEff + 1)) / nEff);
  // Centred on the residuals' median so p50 stays the point forecast.
  const med = weightedQuantile(c.residuals, c.weights, 0.5);
  let lo = Math.min(0, weightedQuantile(c.residuals, c.weights, 1 - q) - med);
  let hi = Math.max(0, weightedQuantile(c.residuals, c.weights, q) - med);
  if (n < minResiduals) {
    const a = n / minResiduals;
    lo = a * lo + (1 - a) * prior[0];
    hi = a * hi + (1 - a) * prior[1];
  }
  return [lo, hi];
}

/** No whole day of history: the window's own observed rate, extrapolated, with a wide band. */
function linearProjection(q: WindowQuery, spent: number, hourly: Series, historyDays: number): Projection {
  const from = Math.max(q.windowStart, hourly.start);
  let rate = q.now > from ? spent / (q.now - from) : 0;
  if (!(rate > 0)) {
    // Nothing in the window yet: the recent history's average rate, if any.
    const back = Math.max(hourly.start, q.now - DAY_MS);
    rate = q.now > back ? sumRange(hourly, back, q.now) / (q.now - back) : 0;
  }
  const rem = rate * (q.windowEnd - q.now);
  // What the projection rests on, in words: the pace of which span, and the band's spread.
  const paced =
    q.now > from && spent > 0
      ? `${from > q.windowStart ? 'the pace since the hour of the first spend' : "this window's pace so far"}, ${span(q.now - from)} of it`
      : `the average pace of the last ${span(q.now - Math.max(hourly.start, q.now - DAY_MS))}`;
  return {
    p10: spent + LINEAR_BAND[0] * rem,
    p50: spent + rem,
    p90: spent + LINEAR_BAND[1] * rem,
    method: 'linear',
    coldStart: true,
    historyDays,
    calibrationDays: 0,
    note: `${historyDays === 0 ? 'no history yet' : `cold start: ${historyDays} whole day(s) of history`}: ${paced}, extrapolated to the window's end; p10–p90 ×${LINEAR_BAND[0]}–×${LINEAR_BAND[1]} of that`,
  };
}

/** A duration for a note: `34 minutes`, `3 h 05 min`. */
function span(ms: number): string {
  const m = Math.max(1, Math.round(ms / 60_000));
  if (m < 60) return `${m} minute${m === 1 ? '' : 's'}`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** `profile`, or `blend(profile 0.70, linear 0.30)` when several methods carry weight. */
function mixLabel(mix: Readonly<Record<MethodName, number>>): string {
  const used = METHODS.filter((m) => mix[m] > 0.005);
  if (used.length === 1) return used[0] ?? 'profile';
  return `blend(${used.map((m) => `${m} ${mix[m].toFixed(2)}`).join(', ')})`;
}

function checkQuery(q: WindowQuery, fittedAt: number): void {
  for (const k of ['windowStart', 'windowEnd', 'now', 'spentSoFar'] as const) {
    if (!Number.isFinite(q[k])) throw new RangeError(`${k} must be finite, got ${String(q[k])}`);
  }
  if (q.windowEnd <= q.windowStart) throw new RangeError('windowEnd must be after windowStart');
  if (q.now < fittedAt) throw new RangeError('now is before the fit: refit at the earlier instant');
}

export type { MethodName };

/** Standard deviation of the methods' log remaining spend at this point of today: how much they disagree. */
function methodSpread(p: DayPrior, o: DayObs, pp: ProfileParams): number {
  const logs = METHODS.map((m) =>
    Math.log(restFloor(p.level, o.cum) + Math.max(0, (dayTotal(m, p, o, pp) ?? dayTotal('linear', p, o, pp) ?? o.cum) - o.cum)),
  );
  const mean = logs.reduce((a, b) => a + b, 0) / logs.length;
  const sd = Math.sqrt(logs.reduce((a, v) => a + (v - mean) ** 2, 0) / logs.length);
  return Number.isFinite(sd) ? sd : 0;
}

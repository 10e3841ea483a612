/**
 * Walk-forward backtest of the forecaster against the README's naive baselines. Pure: a
 * series in, numbers out.
 *
 * Day windows: every whole day d of the series (d counted from its first whole day, 0) from
 * `evalFrom` on (default 1: every day with at least one whole previous day), at each
 * checkpoint hour H: the forecaster is fitted on the series before dayStart + H and projects
 * the day's total; the baselines use the same day's first H hours and the whole previous
 * days. Month windows: every rolling 30-day window starting on day s ≥ evalFrom (default 0)
 * that the series covers, at checkpoint D days in; only the linear baseline is defined.
 *
 * MAPE = mean over evaluated windows of |pred − actual| / actual × 100; windows whose actual
 * is 0 have no percentage error and are skipped (counted in `skippedZero`). Where a seasonal
 * baseline is undefined (reference fraction 0), linear is scored in its place
 * (`baselineFallbacks` counts it), so every column averages the same windows.
 */
import { baselinePredictions, cumAt, linearBaseline, type BaselineName } from './baselines.ts';
import { fitForecaster, type ModelConfig } from '../model.ts';
import { DAY_MS, HOUR_MS } from '../../core/time.ts';
import { dailyTable, resampleHourly, sliceSeries, type Series } from '../series.ts';

export type WindowKind = 'day' | 'month';
export const MONTH_DAYS = 30;

export interface BacktestOptions {
  window: WindowKind;
  /** Hours into the day (1..23) or days into the month window (1..29). */
  checkpoints: readonly number[];
  /** First evaluated day (day windows) or window start day (month), from the series' day 0. */
  evalFrom?: number;
  /**
   * Day windows only: the forecaster and the baselines see just the last `history` whole days
   * before each evaluated day, as a series that young would (evaluation starts at that day).
   */
  history?: number;
  dayOffsetMs?: number;
  config?: Partial<ModelConfig>;
}

type PerCheckpoint = Record<string, number>;

export interface BacktestResult {
  window: WindowKind;
  checkpoints: number[];
  /** The forecaster's MAPE per checkpoint. */
  mape: PerCheckpoint;
  /** Mean signed error (pred − actual) / actual × 100: > 0 over-forecasts. */
  bias: PerCheckpoint;
  baselineBias: Partial<Record<BaselineName, PerCheckpoint>>;
  baselines: Partial<Record<BaselineName, PerCheckpoint>>;
  /** Evaluated windows (per checkpoint, after skipping zero actuals). */
  windows: number;
  skippedZero: number;
  /** Whole days in the series, and the index of the first evaluated day / window start. */
  days: number;
  firstEvaluated: number;
  baselineFallbacks: Partial<Record<BaselineName, PerCheckpoint>>;
  /** How often each method produced the forecast, per checkpoint. */
  methods: Record<string, PerCheckpoint>;
  /** Share of windows whose actual fell inside [p10, p90], per checkpoint. */
  coverage: PerCheckpoint;
  coldStarts: number;
}

export function runBacktest(series: Series, o: BacktestOptions): BacktestResult {
  const off = o.dayOffsetMs ?? 0;
  const hourly = resampleHourly(series, off);
  const table = dailyTable(hourly, off);
  const periods = o.window === 'day' ? 24 : MONTH_DAYS;
  for (const k of o.checkpoints) {
    if (!Number.isInteger(k) || k < 1 || k >= periods)
      throw new RangeError(`checkpoint ${k} must be an integer in 1..${periods - 1} for ${o.window} windows`);
  }
  // One row per window: its slots (hours of a day, or days of a rolling month).
  const rows: Float64Array[] = o.window === 'day' ? [...table.rows] : [];
  if (o.window === 'month') for (let s = 0; s + MONTH_DAYS <= table.totals.length; s++) rows.push(table.totals.slice(s, s + MONTH_DAYS));
  const history = o.window === 'day' && o.history !== undefined ? o.history : Infinity;
  if (!(history >= 1)) throw new RangeError(`history must be at least one whole day, got ${o.history}`);
  const first = Math.max(0, o.evalFrom ?? (o.window === 'day' ? 1 : 0), Number.isFinite(history) ? history : 0);
  const slotMs = o.window === 'day' ? HOUR_MS : DAY_MS;
  const names: BaselineName[] = o.window === 'day' ? ['linear', 'snaive1', 'snaive7'] : ['linear'];
  const sums = { model: new Map<number, number>(), cover: new Map<number, number>(), bias: new Map<number, number>() };
  const bsum = new Map<string, number>();
  const bbias = new Map<string, number>();
  const add = (m: Map<number | string, number>, k: number | string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  const fallbacks = new Map<string, number>();
  const methods: Record<string, PerCheckpoint> = {};
  let windows = 0;
  let skippedZero = 0;
  let coldStarts = 0;
  for (let w = first; w < rows.length; w++) {
    const row = rows[w];
    if (row === undefined) continue;
    const actual = row.reduce((a, b) => a + b, 0);
    if (!(actual > 0)) {
      skippedZero++;
      continue;
    }
    windows++;
    const windowStart = (table.firstDay + w) * DAY_MS + off;
    const seen = Number.isFinite(history) ? sliceSeries(hourly, windowStart - history * DAY_MS, Infinity) : hourly;
    const refs = Number.isFinite(history) ? rows.slice(w - history, w + 1) : rows;
    const at = Number.isFinite(history) ? history : w;
    for (const k of o.checkpoints) {
      const cum = cumAt(row, k);
      const preds: Partial<Record<BaselineName, number | null>> =
        o.window === 'day' ? baselinePredictions(refs, at, k) : { linear: linearBaseline(cum, k, periods) };
      for (const b of names) {
        let p = preds[b] ?? null;
        if (p === null) {
          fallbacks.set(`${b}|${k}`, (fallbacks.get(`${b}|${k}`) ?? 0) + 1);
          p = linearBaseline(cum, k, periods);
        }
        add(bsum, `${b}|${k}`, Math.abs(p - actual) / actual);
        add(bbias, `${b}|${k}`, (p - actual) / actual);
      }
      const now = windowStart + k * slotMs;
      const f = fitForecaster(seen, { now, dayOffsetMs: off, ...(o.config ? { config: o.config } : {}) });
      const pr = f.projectWindow({ windowStart, windowEnd: windowStart + periods * slotMs, now, spentSoFar: cum });
      if (pr.coldStart && k === o.checkpoints[0]) coldStarts++;
      add(sums.model, k, Math.abs(pr.p50 - actual) / actual);
      add(sums.bias, k, (pr.p50 - actual) / actual);
      add(sums.cover, k, actual >= pr.p10 && actual <= pr.p90 ? 1 : 0);
      // Blends are tallied by their members; the weights vary per day.
      const m = (methods[pr.method.replace(/ \d+\.\d+/g, '')] ??= {});
      m[String(k)] = (m[String(k)] ?? 0) + 1;
    }
  }
  const pct = (v: number | undefined): number => (windows > 0 ? (100 * (v ?? 0)) / windows : NaN);
  const per = (f: (k: number) => number): PerCheckpoint => Object.fromEntries(o.checkpoints.map((k) => [String(k), f(k)]));
  return {
    window: o.window,
    checkpoints: [...o.checkpoints],
    mape: per((k) => pct(sums.model.get(k))),
    bias: per((k) => pct(sums.bias.get(k))),
    baselines: Object.fromEntries(names.map((b) => [b, per((k) => pct(bsum.get(`${b}|${k}`)))])),
    baselineBias: Object.fromEntries(names.map((b) => [b, per((k) => pct(bbias.get(`${b}|${k}`)))])),
    windows,
    skippedZero,
    days: table.totals.length,
    firstEvaluated: first,
    baselineFallbacks: Object.fromEntries(names.map((b) => [b, per((k) => fallbacks.get(`${b}|${k}`) ?? 0)])),
    methods,
    coverage: per((k) => (windows > 0 ? (sums.cover.get(k) ?? 0) / windows : NaN)),
    coldStarts,
  };
}

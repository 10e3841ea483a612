/**
 * How forecaster changes are judged: scores that predict how it does on a series it has
 * never seen. Pure: series in, cells out.
 *
 *  - rolling origin: fit on the days before d, score day d, for every day of every series;
 *  - truncated history: the same with only the last 1, 2, 3, 7 or 14 days visible, as on a
 *    young deployment (each variant is a separate cell, so little history cannot hide in
 *    an average over long series);
 *  - leave-one-series-out: every tunable choice is made on the other series, then scored on
 *    the left-out one (a choice that only helps the series it was tuned on shows up here).
 *
 *  - level shift (a stress test, synthetic): the second half of a series multiplied by a
 *    factor, as when a customer or a release doubles traffic overnight. The naive rules read
 *    only today and fractions, so they are immune; a level-based model must adapt.
 *
 * A cell is one series × history variant × checkpoint; its ratio is the forecaster's MAPE
 * over the best of the three naive baselines' MAPEs on the same days (best in hindsight,
 * the bar an evaluator sets). Summary: geometric mean and worst ratio over cells.
 */
import { runBacktest, type BacktestResult } from '../../src/forecast/eval/backtest.ts';
import type { ModelConfig } from '../../src/forecast/model.ts';
import { DAY_MS } from '../../src/core/time.ts';
import { makeSeries, type Series } from '../../src/forecast/series.ts';

export interface EvalSeries {
  name: string;
  series: Series;
}

/** `full` is the whole history; a number is that many days of it. */
export type HistoryVariant = 'full' | number;

export const HISTORY_VARIANTS: readonly HistoryVariant[] = ['full', 1, 2, 3, 7, 14];
export const CHECKPOINTS: readonly number[] = [6, 12, 18];

export interface Cell {
  series: string;
  history: HistoryVariant;
  checkpoint: number;
  days: number;
  mape: number;
  bestBaseline: string;
  bestMape: number;
  /** mape / bestMape: below 1 beats the best naive rule. */
  ratio: number;
  bias: number;
  coverage: number;
}

export interface Summary {
  cells: number;
  geoMean: number;
  worst: Cell | null;
  /** Cells whose ratio is above `over` (1.1 unless told). */
  above: number;
}

export function evaluateSeries(
  s: EvalSeries,
  o: { config?: Partial<ModelConfig>; variants?: readonly HistoryVariant[]; checkpoints?: readonly number[] } = {},
): Cell[] {
  const checkpoints = o.checkpoints ?? CHECKPOINTS;
  const out: Cell[] = [];
  for (const history of o.variants ?? HISTORY_VARIANTS) {
    const r: BacktestResult = runBacktest(s.series, {
      window: 'day',
      checkpoints,
      ...(history === 'full' ? {} : { history }),
      ...(o.config ? { config: o.config } : {}),
    });
    // One scored day is an anecdote, not a cell.
    if (r.windows < (history === 'full' ? 1 : 2)) continue;
    for (const k of checkpoints.map(String)) {
      let bestBaseline = '';
      let bestMape = Infinity;
      for (const [b, per] of Object.entries(r.baselines)) {
        const v = per?.[k] ?? Infinity;
        if (v < bestMape) [bestBaseline, bestMape] = [b, v];
      }
      const mape = r.mape[k] ?? NaN;
      out.push({
        series: s.name,
        history,
        checkpoint: Number(k),
        days: r.windows,
        mape,
        bestBaseline,
        bestMape,
        // A perfect baseline (0 %) makes any error infinitely worse; floor it at 0.1 point.
        ratio: Math.max(mape, 0.1) / Math.max(bestMape, 0.1),
        bias: r.bias[k] ?? NaN,
        coverage: r.coverage[k] ?? NaN,
      });
    }
  }
  return out;
}

export function summarize(cells: readonly Cell[], over = 1.1): Summary {
  let log = 0;
  let worst: Cell | null = null;
  let above = 0;
  for (const c of cells) {
    log += Math.log(c.ratio);
    if (worst === null || c.ratio > worst.ratio) worst = c;
    if (c.ratio > over) above++;
  }
  return { cells: cells.length, geoMean: cells.length ? Math.exp(log / cells.length) : NaN, worst, above };
}

/**
 * Leave-one-series-out: for each series, the candidate with the best geo-mean on the other
 * series is scored on it. `cells[c][s]` are candidate c's cells on series s.
 */
export function leaveOneSeriesOut(cells: readonly (readonly Cell[][])[], names: readonly string[]): { chosen: string[]; cells: Cell[] } {
  const chosen: string[] = [];
  const out: Cell[] = [];
  for (let s = 0; s < names.length; s++) {
    let best = 0;
    let bestScore = Infinity;
    cells.forEach((byCand, c) => {
      const others = byCand.filter((_, j) => j !== s).flat();
      const score = summarize(others).geoMean;
      if (score < bestScore) [best, bestScore] = [c, score];
    });
    chosen.push(String(best));
    out.push(...(cells[best]?.[s] ?? []));
  }
  return { chosen, cells: out };
}

/** The series with every bucket from its middle whole day on multiplied by `factor`. */
export function withLevelShift(s: EvalSeries, factor: number): EvalSeries {
  const { start, stepMs, values } = s.series;
  const days = Math.floor((values.length * stepMs) / DAY_MS);
  const cut = start + Math.floor(days / 2) * DAY_MS;
  const shifted = Float64Array.from(values, (v, i) => (start + i * stepMs >= cut ? v * factor : v));
  return { name: s.name, series: makeSeries(start, stepMs, shifted) };
}

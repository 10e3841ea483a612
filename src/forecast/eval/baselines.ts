/**
 * The naive baselines the backtest scores the forecaster against, on a window
 * split into `periods` equal slots (24 hours of a day; 30 days of a rolling month) with the
 * checkpoint after `k` slots:
 *
 *   linear   cum × periods / k
 *   snaive1  cum ÷ (fraction of the previous window done after k slots)
 *   snaive7  cum ÷ (pooled fraction of the previous ≤ 7 windows: Σ cum_k / Σ totals)
 *
 * Only whole previous windows count. With fewer than 7 previous windows snaive7 pools what
 * there is (so on the second day it equals snaive1). A fraction of zero (no spend by slot k
 * in the reference windows) or no reference window at all leaves the seasonal baselines
 * undefined (null): the backtest then scores linear in their place, as the least-assumption
 * forecast, and says how often that happened.
 *
 * Month windows (--window month): only `linear` is defined. The seasonal analogs would need
 * whole previous 30-day windows that end before the checkpoint (≥ 30 days of history before
 * each evaluated window), which the dev series cannot supply for most windows; they are
 * omitted rather than redefined.
 */

export const BASELINES = ['linear', 'snaive1', 'snaive7'] as const;
export type BaselineName = (typeof BASELINES)[number];

export function cumAt(row: ArrayLike<number>, k: number): number {
  let s = 0;
  for (let i = 0; i < k && i < row.length; i++) s += row[i] ?? 0;
  return s;
}

export function total(row: ArrayLike<number>): number {
  return cumAt(row, row.length);
}

export function linearBaseline(cum: number, k: number, periods: number): number {
  if (!(k > 0)) throw new RangeError(`checkpoint must be > 0 slots, got ${k}`);
  return (cum * periods) / k;
}

/** cum ÷ pooled fraction done by slot k over `refs` (whole previous windows); null if undefined. */
export function pooledFractionBaseline(cum: number, k: number, refs: readonly ArrayLike<number>[]): number | null {
  let done = 0;
  let all = 0;
  for (const r of refs) {
    done += cumAt(r, k);
    all += total(r);
  }
  if (!(done > 0) || !(all > 0)) return null;
  return cum / (done / all);
}

/**
 * All baselines for window `w` of `rows` (consecutive whole windows, oldest first) at slot k.
 * Seasonal ones are null when undefined (see the module comment).
 */
export function baselinePredictions(rows: readonly ArrayLike<number>[], w: number, k: number): Record<BaselineName, number | null> {
  const row = rows[w];
  if (row === undefined) throw new RangeError(`no window ${w}`);
  const cum = cumAt(row, k);
  const prev1 = rows.slice(Math.max(0, w - 1), w);
  const prev7 = rows.slice(Math.max(0, w - 7), w);
  return {
    linear: linearBaseline(cum, k, row.length),
    snaive1: pooledFractionBaseline(cum, k, prev1),
    snaive7: pooledFractionBaseline(cum, k, prev7),
  };
}

/**
 * The nested evaluation: how forecaster changes are judged so that the figure predicts unseen
 * data (issue #21, part 4). Pure: items in, scores out.
 *
 *  - items (synth.ts): the dev series, whole-day block bootstraps and rescaled mixes of them,
 *    and synthetic families with known structure;
 *  - every item is scored at every truncation of its history, 1 to 14 days (a few days each),
 *    and with all of it from day 15 on, at hours 6, 12 and 18;
 *  - a cell is one item × history bucket (1–2, 3–5, 6–9, 10–14, 15+ days) × hour; its ratios
 *    are the forecaster's MAPE over the best naive rule's in hindsight (linear, snaive1,
 *    snaive7: the lowest MAPE on the cell's own days) and over "yesterday's total" (floored
 *    at what is already spent);
 *  - nested: the groups (source series and families) split into an inner and an outer side;
 *    every tunable is chosen on the inner side, then scored on the outer side, which holds
 *    at least one source and one family never used for selection. An item counts on a side
 *    only when all its groups are there (resampled days stay with their source). The inner
 *    figure is what a developer sees; the outer one is what it predicts.
 */
import { fitForecaster, type ModelConfig, type WindowQuery } from '../../src/forecast/model.ts';
import { baselinePredictions, cumAt } from '../../src/forecast/eval/baselines.ts';
import { DAY_MS, HOUR_MS } from '../../src/core/time.ts';
import type { Series } from '../../src/forecast/series.ts';
import type { Item } from './synth.ts';

export interface Projected {
  p10: number;
  p50: number;
  p90: number;
  levelChanged?: boolean;
}

/** A forecaster under test: the history seen (hourly, ending at q.now) and the window to project. */
export type ForecastFn = (seen: Series, q: WindowQuery) => Projected;

export function modelFn(config?: Partial<ModelConfig>): ForecastFn {
  return (seen, q) => {
    const p = fitForecaster(seen, { now: q.now, ...(config ? { config } : {}) }).projectWindow(q);
    return { p10: p.p10, p50: p.p50, p90: p.p90, ...(p.levelChanged === undefined ? {} : { levelChanged: p.levelChanged }) };
  };
}

export const REFS = ['linear', 'snaive1', 'snaive7', 'yesterday'] as const;
export type RefName = (typeof REFS)[number];
export const HOURS = [6, 12, 18] as const;
export const BUCKETS = ['1–2 d', '3–5 d', '6–9 d', '10–14 d', '15+ d'] as const;
export type Bucket = (typeof BUCKETS)[number];

export function bucketOf(historyDays: number): Bucket {
  if (historyDays <= 2) return '1–2 d';
  if (historyDays <= 5) return '3–5 d';
  if (historyDays <= 9) return '6–9 d';
  if (historyDays <= 14) return '10–14 d';
  return '15+ d';
}

/** One forecast: an item's day, seen with `history` days before it, at `hour`. */
export interface Point {
  item: string;
  day: number;
  history: number;
  hour: number;
  actual: number;
  ape: number;
  /** Signed (p50 − actual) / actual. */
  err: number;
  covered: boolean;
  levelChanged: boolean;
  refApe: Record<RefName, number>;
}

export interface ScoreOptions {
  /** Truncations scored (days of history). */
  truncations: readonly number[];
  /** Days scored per truncation, spread over the item. */
  perTruncation: number;
  /** Days scored with all history (from day 15 on). */
  fullDays: number;
  hours: readonly number[];
}

export const FULL_SCORE: ScoreOptions = {
  truncations: Array.from({ length: 14 }, (_, i) => i + 1),
  perTruncation: 3,
  fullDays: 4,
  hours: HOURS,
};

/** `k` of the integers in [lo, hi], evenly spread, starting at an offset that varies with `salt`. */
function spread(lo: number, hi: number, k: number, salt: number): number[] {
  const n = hi - lo + 1;
  if (n <= 0) return [];
  if (n <= k) return Array.from({ length: n }, (_, i) => lo + i);
  const step = n / k;
  const off = (salt * 0.618) % 1;
  return Array.from({ length: k }, (_, i) => lo + Math.min(n - 1, Math.floor((i + off) * step)));
}

/** The (history, day) pairs scored on an item of `n` days. */
export function origins(n: number, o: ScoreOptions): [number, number][] {
  const out: [number, number][] = [];
  for (const h of o.truncations) for (const d of spread(h, n - 1, o.perTruncation, h)) out.push([h, d]);
  for (const d of spread(15, n - 1, o.fullDays, 0)) out.push([d, d]);
  return out;
}

export function scoreItem(item: Item, f: ForecastFn, o: ScoreOptions = FULL_SCORE): Point[] {
  const out: Point[] = [];
  const rows = item.rows;
  for (const [history, day] of origins(rows.length, o)) {
    const row = rows[day];
    if (row === undefined) continue;
    const actual = row.reduce((a, b) => a + b, 0);
    if (!(actual > 0)) continue;
    const refs = rows.slice(day - history, day + 1);
    const seenStart = (day - history) * DAY_MS;
    for (const hour of o.hours) {
      const cum = cumAt(row, hour);
      const values = new Float64Array(history * 24 + hour);
      for (const [i, r] of refs.entries()) values.set(i < history ? r : r.subarray(0, hour), i * 24);
      const windowStart = day * DAY_MS;
      const now = windowStart + hour * HOUR_MS;
      const p = f({ start: seenStart, stepMs: HOUR_MS, values }, { windowStart, windowEnd: windowStart + DAY_MS, now, spentSoFar: cum });
      const b = baselinePredictions(refs, history, hour);
      const lin = b.linear ?? 0;
      const yesterday = Math.max(
        cum,
        (refs[history - 1] ?? row).reduce((a, v) => a + v, 0),
      );
      const ape = (x: number) => Math.abs(x - actual) / actual;
      out.push({
        item: item.name,
        day,
        history,
        hour,
        actual,
        ape: ape(p.p50),
        err: (p.p50 - actual) / actual,
        covered: actual >= p.p10 && actual <= p.p90,
        levelChanged: p.levelChanged === true,
        refApe: { linear: ape(lin), snaive1: ape(b.snaive1 ?? lin), snaive7: ape(b.snaive7 ?? lin), yesterday: ape(yesterday) },
      });
    }
  }
  return out;
}

export interface Cell {
  item: string;
  groups: string[];
  bucket: Bucket;
  hour: number;
  n: number;
  mape: number;
  refMape: Record<RefName, number>;
  best: RefName;
  /** MAPE over the best naive rule's (in hindsight, on the cell's own days). */
  ratio: number;
  /** MAPE over "yesterday's total"'s. */
  ratioYesterday: number;
  coverage: number;
  bias: number;
}

const ratioOf = (a: number, b: number) => Math.max(a, 0.1) / Math.max(b, 0.1);

export function cellsOf(item: Item, points: readonly Point[]): Cell[] {
  const by = new Map<string, Point[]>();
  for (const p of points) {
    const k = `${bucketOf(p.history)}|${p.hour}`;
    let list = by.get(k);
    if (list === undefined) by.set(k, (list = []));
    list.push(p);
  }
  const out: Cell[] = [];
  for (const bucket of BUCKETS)
    for (const hour of HOURS) {
      const ps = by.get(`${bucket}|${hour}`);
      if (!ps || ps.length === 0) continue;
      const mean = (f: (p: Point) => number) => (100 * ps.reduce((a, p) => a + f(p), 0)) / ps.length;
      const refMape = Object.fromEntries(REFS.map((r) => [r, mean((p) => p.refApe[r])])) as Record<RefName, number>;
      let best: RefName = 'linear';
      for (const r of ['snaive1', 'snaive7'] as const) if (refMape[r] < refMape[best]) best = r;
      const mape = mean((p) => p.ape);
      out.push({
        item: item.name,
        groups: item.groups,
        bucket,
        hour,
        n: ps.length,
        mape,
        refMape,
        best,
        ratio: ratioOf(mape, refMape[best]),
        ratioYesterday: ratioOf(mape, refMape.yesterday),
        coverage: ps.filter((p) => p.covered).length / ps.length,
        bias: mean((p) => p.err),
      });
    }
  return out;
}

export interface Summary {
  cells: number;
  geoMean: number;
  geoMeanYesterday: number;
  worst: Cell | null;
  above15: number;
}

export function summarize(cells: readonly Cell[]): Summary {
  let a = 0;
  let b = 0;
  let worst: Cell | null = null;
  for (const c of cells) {
    a += Math.log(c.ratio);
    b += Math.log(c.ratioYesterday);
    if (worst === null || c.ratio > worst.ratio) worst = c;
  }
  const n = cells.length;
  return {
    cells: n,
    geoMean: n ? Math.exp(a / n) : NaN,
    geoMeanYesterday: n ? Math.exp(b / n) : NaN,
    worst,
    above15: cells.filter((c) => c.ratio > 1.5).length,
  };
}

/** Which side of a split an item's cells count on (null: its groups straddle it). */
export function sideOf(groups: readonly string[], outer: ReadonlySet<string>): 'inner' | 'outer' | null {
  const out = groups.filter((g) => outer.has(g)).length;
  return out === 0 ? 'inner' : out === groups.length ? 'outer' : null;
}

export interface Fold {
  name: string;
  /** The groups held out: at least one source and one family. */
  outer: readonly string[];
}

export interface FoldResult {
  fold: string;
  chosen: string;
  inner: Summary;
  outer: Summary;
  /** The default (first) candidate on the same sides. */
  defaultInner: Summary;
  defaultOuter: Summary;
}

/**
 * For each fold: the candidate with the lowest inner geo-mean is chosen, and scored on the
 * outer side. `cells[c]` are candidate c's cells on every item (candidate 0 is the default).
 */
export function nested(cells: readonly (readonly Cell[])[], names: readonly string[], folds: readonly Fold[]): FoldResult[] {
  return folds.map((fold) => {
    const outer = new Set(fold.outer);
    const side = (cs: readonly Cell[], s: 'inner' | 'outer') => cs.filter((c) => sideOf(c.groups, outer) === s);
    let best = 0;
    let bestScore = Infinity;
    cells.forEach((cs, i) => {
      const g = summarize(side(cs, 'inner')).geoMean;
      if (g < bestScore) [best, bestScore] = [i, g];
    });
    const chosen = cells[best] ?? [];
    const def = cells[0] ?? [];
    return {
      fold: fold.name,
      chosen: names[best] ?? String(best),
      inner: summarize(side(chosen, 'inner')),
      outer: summarize(side(chosen, 'outer')),
      defaultInner: summarize(side(def, 'inner')),
      defaultOuter: summarize(side(def, 'outer')),
    };
  });
}

/** Per-group p10–p90 coverage (mean over its items' points). */
export function coverageByGroup(points: readonly Point[], items: readonly Item[]): Map<string, number> {
  const group = new Map(items.map((i) => [i.name, i.groups.length === 1 ? (i.groups[0] ?? '') : 'mixes']));
  const acc = new Map<string, [number, number]>();
  for (const p of points) {
    const g = group.get(p.item) ?? '?';
    const a = acc.get(g) ?? [0, 0];
    acc.set(g, [a[0] + (p.covered ? 1 : 0), a[1] + 1]);
  }
  return new Map([...acc].map(([g, [c, n]]) => [g, c / n]));
}

/**
 * Level changes (issue #21 part 3), on items built from real days: each item's days from its
 * middle day on multiplied by `factor`; the first day at the new level (day 0) and the next
 * (day 1) are forecast with all history before them. Ratio: pooled MAPE over the best naive
 * rule's (pooled over the same forecasts) per hour; and how often a level change is reported.
 */
export function shiftCheck(
  items: readonly Item[],
  f: ForecastFn,
  factors: readonly number[] = [2, 0.5],
  hours: readonly number[] = HOURS,
): { after: number; hour: number; ratio: number; mape: number; best: number; reported: number }[] {
  const acc = new Map<string, { ape: number; ref: Record<RefName, number>; n: number; rep: number }>();
  for (const item of items)
    for (const factor of factors) {
      const s = Math.floor(item.rows.length / 2);
      const rows = item.rows.map((r, d) => (d >= s ? r.map((v) => v * factor) : r));
      for (const after of [0, 1]) {
        const day = s + after;
        if (day >= rows.length) continue;
        for (const p of scoreItem({ ...item, rows: rows.slice(0, day + 1) }, f, {
          truncations: [day],
          perTruncation: 1,
          fullDays: 0,
          hours,
        })) {
          const k = `${after}|${p.hour}`;
          const a = acc.get(k) ?? { ape: 0, ref: { linear: 0, snaive1: 0, snaive7: 0, yesterday: 0 }, n: 0, rep: 0 };
          a.ape += p.ape;
          for (const r of REFS) a.ref[r] += p.refApe[r];
          a.n++;
          a.rep += p.levelChanged ? 1 : 0;
          acc.set(k, a);
        }
      }
    }
  return [...acc].map(([k, a]) => {
    const [after, hour] = k.split('|').map(Number) as [number, number];
    const best = Math.min(a.ref.linear, a.ref.snaive1, a.ref.snaive7);
    return {
      after,
      hour,
      ratio: ratioOf((100 * a.ape) / a.n, (100 * best) / a.n),
      mape: (100 * a.ape) / a.n,
      best: (100 * best) / a.n,
      reported: a.rep / a.n,
    };
  });
}

/** Days (per 10) on which a level change was reported at any hour, over the points given. */
export function falseReportsPer10Days(points: readonly Point[]): number {
  const days = new Map<string, boolean>();
  for (const p of points) {
    const k = `${p.item}|${p.history}|${p.day}`;
    days.set(k, (days.get(k) ?? false) || p.levelChanged);
  }
  const n = days.size;
  return n ? (10 * [...days.values()].filter(Boolean).length) / n : NaN;
}

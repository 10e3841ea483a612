/**
 * The nested evaluation's report (bench/forecast/nested.ts): per split, the tunable chosen on
 * the inner side and its ratio there (predicted) next to the outer side (realized), against
 * the best naive rule in hindsight and against "yesterday's total"; then, on the holdout
 * split, the table by history bucket and the issue's goals.
 */
import {
  BUCKETS,
  cellsOf,
  coverageByGroup,
  HOURS,
  falseReportsPer10Days,
  nested,
  scoreItem,
  shiftCheck,
  sideOf,
  summarize,
  type Cell,
  type ForecastFn,
  type Fold,
  type Point,
  type ScoreOptions,
} from './nested.ts';
import type { Item } from './synth.ts';

export interface NestedRun {
  names: string[];
  /** cells[c]: candidate c's cells on every item. */
  cells: Cell[][];
  /** The default candidate's points. */
  points: Point[];
}

export function runNested(items: readonly Item[], candidates: readonly [string, ForecastFn][], o?: ScoreOptions): NestedRun {
  const cells: Cell[][] = [];
  let points: Point[] = [];
  candidates.forEach(([, f], c) => {
    const all: Cell[] = [];
    for (const item of items) {
      const ps = scoreItem(item, f, o);
      if (c === 0) points = points.concat(ps);
      all.push(...cellsOf(item, ps));
    }
    cells.push(all);
  });
  return { names: candidates.map(([n]) => n), cells, points };
}

const fmt = (v: number, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : '—');

/** The goals of issue #21, on one side of a split, for the default candidate. */
export interface Goals {
  geoMean: number;
  geoMeanYesterday: number;
  worst: number;
  above15: number;
  cells: number;
  /** Regular items, 1–5 days of history, hour 6: pooled MAPE over yesterday's total's. */
  regularH6: number;
  /** p10–p90 coverage per group (min and max over groups). */
  coverage: Map<string, number>;
}

export function goals(run: NestedRun, items: readonly Item[], fold: Fold, side: 'inner' | 'outer', candidate = 0): Goals {
  const outer = new Set(fold.outer);
  const onSide = new Set(items.filter((i) => sideOf(i.groups, outer) === side).map((i) => i.name));
  const cs = (run.cells[candidate] ?? []).filter((c) => onSide.has(c.item));
  const s = summarize(cs);
  const regular = new Set(items.filter((i) => i.regular && onSide.has(i.name)).map((i) => i.name));
  const reg = run.points.filter((p) => regular.has(p.item) && p.history <= 5 && p.hour === 6);
  const regularH6 = reg.length
    ? Math.max(
        0.001,
        reg.reduce((a, p) => a + p.ape, 0),
      ) /
      Math.max(
        0.001,
        reg.reduce((a, p) => a + p.refApe.yesterday, 0),
      )
    : NaN;
  const coverage = coverageByGroup(
    run.points.filter((p) => onSide.has(p.item)),
    items.filter((i) => onSide.has(i.name)),
  );
  return {
    geoMean: s.geoMean,
    geoMeanYesterday: s.geoMeanYesterday,
    worst: s.worst?.ratio ?? NaN,
    above15: s.above15,
    cells: s.cells,
    regularH6,
    coverage,
  };
}

/** Level changes: ×2 and ×0.5 on every item built from real days, and reports on the real series as they are. */
export function levelChangeReport(items: readonly Item[], f: ForecastFn, sources: readonly string[]): string[] {
  const real = items.filter((i) => i.groups.length === 1 && sources.includes(i.groups[0] ?? ''));
  const out = [
    'level changes: every dev series and bootstrap ×2 or ×0.5 from its middle day, all history before;',
    "  pooled MAPE ÷ best naive rule's (reported: share of forecasts with level_changed)",
  ];
  for (const factor of [2, 0.5]) {
    const rs = shiftCheck(real, f, [factor]);
    for (const after of [0, 1])
      out.push(
        `  ×${factor}, ${after === 0 ? 'first day at the new level' : 'the day after it       '}: ${rs
          .filter((r) => r.after === after)
          .map((r) => `H${r.hour} ${fmt(r.ratio)} (${fmt(r.mape, 1)} vs ${fmt(r.best, 1)}, reported ${Math.round(100 * r.reported)}%)`)
          .join('  ')}`,
      );
  }
  const orig = items.filter((i) => sources.includes(i.name));
  const pts = orig.flatMap((i) => scoreItem(i, f));
  out.push(
    `  level changes reported on the real series as they are (per 10 scored days; goal ≤ 1): ${fmt(falseReportsPer10Days(pts))} (${orig.map((i) => `${i.name} ${fmt(falseReportsPer10Days(pts.filter((p) => p.item === i.name)))}`).join(', ')})`,
  );
  return out;
}

export function nestedReport(run: NestedRun, items: readonly Item[], folds: readonly Fold[]): string[] {
  const out: string[] = [];
  const res = nested(run.cells, run.names, folds);
  out.push('nested evaluation: tunables chosen on the inner side, scored on the outer side');
  out.push("  ratio = MAPE / best naive rule in hindsight (linear, snaive1, snaive7); vs yest. = MAPE / yesterday's total");
  out.push(
    'split     outer groups                                            chosen                      inner (predicted)        outer (realized)',
  );
  out.push(
    '                                                                                              best  yest. worst >1.5   best  yest. worst >1.5',
  );
  for (const [i, r] of res.entries()) {
    const f = folds[i];
    out.push(
      `${r.fold.padEnd(9)} ${(f?.outer.join(', ') ?? '').padEnd(55)} ${r.chosen.padEnd(27)} ${fmt(r.inner.geoMean).padStart(5)} ${fmt(r.inner.geoMeanYesterday).padStart(6)} ${fmt(r.inner.worst?.ratio ?? NaN).padStart(5)} ${String(r.inner.above15).padStart(4)}   ${fmt(r.outer.geoMean).padStart(5)} ${fmt(r.outer.geoMeanYesterday).padStart(6)} ${fmt(r.outer.worst?.ratio ?? NaN).padStart(5)} ${String(r.outer.above15).padStart(4)}`,
    );
  }
  const hold = folds[0];
  if (hold === undefined) return out;
  const outer = new Set(hold.outer);
  const def = run.cells[0] ?? [];
  out.push('');
  out.push(
    `by history bucket (default, ${hold.name} split): geo-mean ratio to best naive / to yesterday's total, H${HOURS.join('/')} pooled`,
  );
  out.push(
    `  ${'bucket'.padEnd(9)} ${'inner'.padStart(14)} ${'outer'.padStart(14)}   ${HOURS.map((h) => `H${h} inner/outer`.padStart(16)).join(' ')}`,
  );
  for (const b of BUCKETS) {
    const side = (s: 'inner' | 'outer', h?: number) =>
      summarize(def.filter((c) => c.bucket === b && (h === undefined || c.hour === h) && sideOf(c.groups, outer) === s));
    const i = side('inner');
    const o = side('outer');
    out.push(
      `  ${b.padEnd(9)} ${`${fmt(i.geoMean)} / ${fmt(i.geoMeanYesterday)}`.padStart(14)} ${`${fmt(o.geoMean)} / ${fmt(o.geoMeanYesterday)}`.padStart(14)}   ${HOURS.map((h) => `${fmt(side('inner', h).geoMean)} / ${fmt(side('outer', h).geoMean)}`.padStart(16)).join(' ')}`,
    );
  }
  for (const side of ['inner', 'outer'] as const) {
    const g = goals(run, items, hold, side);
    const cov = [...g.coverage.entries()].map(([k, v]) => `${k} ${Math.round(100 * v)}%`).join(', ');
    out.push('');
    out.push(`goals on the ${side} side (${hold.name}, default, ${g.cells} cells):`);
    out.push(`  geo-mean ratio to best naive ${fmt(g.geoMean, 3)} (goal ≤ 0.9); to yesterday's total ${fmt(g.geoMeanYesterday, 3)}`);
    out.push(`  worst cell ${fmt(g.worst)}; cells above 1.5: ${g.above15} (goal 0)`);
    out.push(`  regular series, 1–5 days of history, H6: MAPE ÷ yesterday's total's = ${fmt(g.regularH6)} (goal ≤ 1.2)`);
    out.push(`  p10–p90 coverage per group (goal 70–90%): ${cov}`);
  }
  return out;
}

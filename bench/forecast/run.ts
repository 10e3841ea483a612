/**
 * The forecaster's report card (bench/forecast/evaluate.ts): rolling origin on every dev series,
 * with history truncated to 1, 2, 3, 7 and 14 days, and leave-one-series-out choice of the
 * tunables among bench/forecast/harness.ts's candidates.
 *
 *   npm run bench:forecast [-- --quick] [-- --cells] [-- --seed N]
 *
 * First the nested evaluation (bench/forecast/nested.ts, nested-report.ts): items built from
 * the dev series and synthetic families, tunables chosen on an inner side and scored on an
 * outer side; `--quick` scores only the default there too.
 *
 * Prints the geo-mean and worst ratio to the best naive baseline, cells above 1.1, the band
 * coverage per series, and with --cells every cell; then (not with --quick) the pacing
 * outcomes of each series replayed through simulate (pacing.ts).
 */
import { CHECKPOINTS, evaluateSeries, HISTORY_VARIANTS, leaveOneSeriesOut, summarize, withLevelShift, type Cell } from './evaluate.ts';
import { CANDIDATES, FOLDS, loadDevSeries, NESTED_CANDIDATES } from './harness.ts';
import { modelFn } from './nested.ts';
import { levelChangeReport, nestedReport, runNested } from './nested-report.ts';
import { buildItems, FULL_ITEMS, seedOf } from './synth.ts';
import { evaluatePacing, pacingTable } from './pacing.ts';

const argv = process.argv.slice(2);
const args = new Set(argv);
// --seed N draws other family members, bootstraps and mixes: a check that a change's gain is
// not a property of one draw (the dev series themselves stay as they are).
const seed = seedOf(argv);
const series = loadDevSeries();
{
  // The nested evaluation first: it is the figure changes are judged by (docs/forecasting.md).
  const t = performance.now();
  const items = buildItems(series, { ...FULL_ITEMS, seed });
  const names = args.has('--quick') ? ['default'] : NESTED_CANDIDATES;
  const run = runNested(
    items,
    names.map((n) => [n, modelFn(CANDIDATES[n])]),
  );
  console.log(
    `${items.length} items (${series.length} dev series, their bootstraps and mixes, synthetic families; seed ${seed}); history 1–14 days and all\n`,
  );
  for (const l of nestedReport(run, items, FOLDS)) console.log(l);
  console.log('');
  for (const l of levelChangeReport(items, modelFn(), names.length ? series.map((s) => s.name) : [])) console.log(l);
  console.log(`\n(${((performance.now() - t) / 1000).toFixed(1)} s)\n\n--- the earlier report card: the dev series alone ---\n`);
}
const names = series.map((s) => s.name);
const t0 = performance.now();
const cand = Object.entries(args.has('--quick') ? { default: {} } : CANDIDATES);
const byCand: Cell[][][] = cand.map(([, config]) => series.map((s) => evaluateSeries(s, { config })));
const fmt = (v: number, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : '—');
const line = (c: Cell) =>
  `${c.series} · ${c.history === 'full' ? 'all history' : `${c.history} d`} · H${c.checkpoint}: ${fmt(c.mape, 1)} vs ${c.bestBaseline} ${fmt(c.bestMape, 1)} = ${fmt(c.ratio)}`;

console.log(
  `cells: ${names.length} series × history ${HISTORY_VARIANTS.join('/')} × H ${CHECKPOINTS.join('/')} (variants with < 2 scored days left out)\n`,
);
console.log('candidate                       geo-mean  worst  >1.1  cells   all-history geo-mean / worst');
cand.forEach(([name], c) => {
  const all = byCand[c]?.flat() ?? [];
  const s = summarize(all);
  const f = summarize(all.filter((x) => x.history === 'full'));
  console.log(
    `${name.padEnd(31)} ${fmt(s.geoMean, 3).padStart(8)} ${fmt(s.worst?.ratio ?? NaN).padStart(6)} ${String(s.above).padStart(5)} ${String(s.cells).padStart(6)}   ${fmt(f.geoMean, 3)} / ${fmt(f.worst?.ratio ?? NaN)}`,
  );
});
const def = byCand[0]?.flat() ?? [];
const loso = leaveOneSeriesOut(byCand, names);
const ls = summarize(loso.cells);
console.log(`\nleave-one-series-out: geo-mean ${fmt(ls.geoMean, 3)}, worst ${fmt(ls.worst?.ratio ?? NaN)}, ${ls.above} cell(s) > 1.1`);
console.log(`  chosen per left-out series: ${names.map((n, i) => `${n} → ${cand[Number(loso.chosen[i])]?.[0]}`).join('; ')}`);
for (const factor of [2, 0.5]) {
  const sh = summarize(series.flatMap((s) => evaluateSeries(withLevelShift(s, factor), { variants: ['full', 3, 7] })));
  console.log(
    `level shift ×${factor} from each series' middle day (stress, history all/3/7 d): geo-mean ${fmt(sh.geoMean, 3)}, worst ${fmt(sh.worst?.ratio ?? NaN)}, ${sh.above} of ${sh.cells} cells > 1.1`,
  );
}
const ds = summarize(def);
console.log(`\ndefault: geo-mean ${fmt(ds.geoMean, 3)}; worst ${ds.worst ? line(ds.worst) : '—'}`);
console.log('\nper series (default): geo-mean ratio, worst cell, p10–p90 coverage (mean over cells), bias % (mean)');
for (const n of names) {
  const cs = def.filter((c) => c.series === n);
  const s = summarize(cs);
  const cov = cs.reduce((a, c) => a + c.coverage, 0) / cs.length;
  const bias = cs.reduce((a, c) => a + c.bias, 0) / cs.length;
  console.log(
    `  ${n.padEnd(22)} ${fmt(s.geoMean, 3)}  worst ${fmt(s.worst?.ratio ?? NaN)}  coverage ${Math.round(100 * cov)}%  bias ${fmt(bias, 1)}`,
  );
}
console.log(`\np10–p90 coverage by history (default, mean over H ${CHECKPOINTS.join('/')}):`);
console.log(`  ${''.padEnd(22)} ${HISTORY_VARIANTS.map((v) => String(v === 'full' ? 'all' : `${v} d`).padStart(5)).join(' ')}`);
for (const n of names) {
  const row = HISTORY_VARIANTS.map((v) => {
    const cs = def.filter((c) => c.series === n && c.history === v);
    return (cs.length ? `${Math.round((100 * cs.reduce((a, c) => a + c.coverage, 0)) / cs.length)}%` : '—').padStart(5);
  });
  console.log(`  ${n.padEnd(22)} ${row.join(' ')}`);
}
const bad = def.filter((c) => c.ratio > 1.1).sort((a, b) => b.ratio - a.ratio);
if (bad.length) console.log(`\ncells > 1.1 (default):\n${bad.map((c) => `  ${line(c)}`).join('\n')}`);
if (args.has('--cells'))
  console.log(
    `\nall cells (default):\n${def.map((c) => `  ${line(c)} · bias ${fmt(c.bias, 1)} · coverage ${Math.round(100 * c.coverage)}%`).join('\n')}`,
  );
// Pacing judged by its outcome (pacing.ts: the series replayed through simulate): about 20 s more.
if (!args.has('--quick')) console.log(`\n${pacingTable(await evaluatePacing())}`);
console.log(`\n(${((performance.now() - t0) / 1000).toFixed(1)} s)`);

/**
 * How a candidate change is tried before it is adopted (docs/forecasting.md, "Tried and not
 * adopted"): each variant of the default config scored on every item of the nested
 * evaluation, printed as the holdout split's inner side, the other splits' inner → outer
 * sides, all cells, and the holdout inner side by history bucket. The holdout's outer side is
 * printed only with --outer: it is read once per adopted change, not while choosing.
 *
 *   npx tsx bench/forecast/variants.ts '{"spreads 3 d": {"calibration": {"spreadPriorDays": 3}}}' [--seed N] [--outer]
 *
 * A variant is a partial ModelConfig, merged into DEFAULT_CONFIG one level deep.
 */
import { DEFAULT_CONFIG, type ModelConfig } from '../../src/forecast/model.ts';
import { FOLDS, loadDevSeries } from './harness.ts';
import { BUCKETS, cellsOf, modelFn, scoreItem, sideOf, summarize } from './nested.ts';
import { buildItems, FULL_ITEMS, seedOf } from './synth.ts';

const argv = process.argv.slice(2);
const spec = argv.find((a) => a.startsWith('{')) ?? '{"default": {}}';
const seed = seedOf(argv);
const variants = JSON.parse(spec) as Record<string, Record<string, unknown>>;

/** DEFAULT_CONFIG with each of the variant's sections merged over the default's. */
function configOf(v: Record<string, unknown>): ModelConfig {
  const out: Record<string, unknown> = { ...DEFAULT_CONFIG };
  for (const [k, val] of Object.entries(v)) {
    if (!(k in DEFAULT_CONFIG)) throw new RangeError(`unknown config section ${k}`);
    const base = (DEFAULT_CONFIG as unknown as Record<string, unknown>)[k];
    out[k] = typeof val === 'object' && val !== null && typeof base === 'object' ? { ...base, ...val } : val;
  }
  return out as unknown as ModelConfig;
}

const items = buildItems(loadDevSeries(), { ...FULL_ITEMS, seed });
const [holdout, ...others] = FOLDS;
if (holdout === undefined) throw new Error('no folds');
const f3 = (x: number) => x.toFixed(3);
for (const [name, v] of Object.entries(variants)) {
  const f = modelFn(configOf(v));
  const cells = items.flatMap((it) => cellsOf(it, scoreItem(it, f)));
  const side = (outer: readonly string[], s: 'inner' | 'outer') => {
    const set = new Set(outer);
    return cells.filter((c) => sideOf(c.groups, set) === s);
  };
  const inner = side(holdout.outer, 'inner');
  const hi = summarize(inner);
  const parts = [`holdout inner ${f3(hi.geoMean)} (${hi.above15} > 1.5)`];
  if (argv.includes('--outer')) parts.push(`outer ${f3(summarize(side(holdout.outer, 'outer')).geoMean)}`);
  for (const fold of others)
    parts.push(`${fold.name} ${f3(summarize(side(fold.outer, 'inner')).geoMean)} → ${f3(summarize(side(fold.outer, 'outer')).geoMean)}`);
  parts.push(`all ${f3(summarize(cells).geoMean)}`);
  console.log(`${name}: ${parts.join(' | ')}`);
  console.log(
    `  holdout inner by history: ${BUCKETS.map((b) => `${b} ${f3(summarize(inner.filter((c) => c.bucket === b)).geoMean)}`).join(', ')}`,
  );
}

/**
 * Compares forecaster configurations by backtest on the dev series in data/
 * (the evidence behind DEFAULT_CONFIG).
 *
 *   npx tsx bench/forecast-candidates.ts [DATA_DIR] [candidate name …]
 *
 * One line per candidate: a score (geometric mean over the 15 series × checkpoint cells of
 * model MAPE / best baseline MAPE; lower is better, < 1 beats the baselines), then the MAPE
 * at H = 6/12/18 per series. Baselines are scored on the same evaluated days (1..N-1).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSeriesCsv, type LoadOptions } from '../src/forecast/csv.ts';
import { runBacktest } from '../src/forecast/backtest.ts';
import { DEFAULT_CONFIG, type ModelConfig } from '../src/forecast/model.ts';

const dir = process.argv[2] ?? 'data';
const SERIES: [string, string, LoadOptions][] = [
  ['conv', 'burstgpt_hourly_days00-41.csv', { model: 'burstgpt/conversation-log' }],
  ['all', 'burstgpt_hourly_days00-41.csv', {}],
  ['m-large', 'servegen_m-large_10min_days00-09.csv', { target: 'tokens' }],
  ['m-mid', 'servegen_m-mid_10min_days00-09.csv', { target: 'tokens' }],
  ['m-small', 'servegen_m-small_10min_days00-09.csv', { target: 'tokens' }],
];

const C = DEFAULT_CONFIG;
const cal = (o: Partial<ModelConfig['calibration']>): Partial<ModelConfig> => ({ calibration: { ...C.calibration, ...o } });
const lvl = (o: Partial<ModelConfig['level']>): Partial<ModelConfig> => ({ level: { ...C.level, ...o } });
const shp = (o: Partial<ModelConfig['shape']>): Partial<ModelConfig> => ({ shape: { ...C.shape, ...o } });
/**
 * Each candidate is DEFAULT_CONFIG with one change, so a row shows what that choice is worth.
 * Not a search space to tune on: the defaults were picked where a change was consistently
 * better across series, and the rest are kept to document the alternatives.
 */
export const CANDIDATES: Record<string, Partial<ModelConfig>> = {
  'default (profile, auto-select)': {},
  '(a) profile only, no fallback': cal({ select: 'profile' }),
  'profile, prior level only (w=0)': cal({ wPriorDays: 1e9, ratioHours: 1e9 }),
  'profile, whole-day ratio': cal({ ratioHours: Infinity }),
  'profile, ratio over 3 h': cal({ ratioHours: 3 }),
  'profile, ratio over 12 h': cal({ ratioHours: 12 }),
  '(b) stacked MLR remaining': cal({ stack: true }),
  '(c) blend inverse-MAPE^2': cal({ combine: 'inverse' }),
  '(c) blend profile+best baseline': cal({ combine: 'pair' }),
  'level: + trend': lvl({ trend: true }),
  'level: no weekday': lvl({ weekly: false }),
  'level: weekday ridge 2': lvl({ weeklyRidge: 2 }),
  'shape: pointwise median': shp({ average: 'median' }),
  'shape: no weekday boost': shp({ sameWeekday: 1 }),
  'cold start below 2 days (linear)': { minHistoryDays: 2 },
  'baseline: linear': cal({ select: 'linear' }),
  'baseline: snaive7': cal({ select: 'snaive7' }),
};

const only = process.argv.slice(3);
const loaded = SERIES.map(([name, file, o]) => [name, parseSeriesCsv(readFileSync(join(dir, file), 'utf8'), o).series] as const);
for (const [cand, config] of Object.entries(CANDIDATES)) {
  if (only.length > 0 && !only.includes(cand)) continue;
  const cells: string[] = [];
  let logRatio = 0;
  let nCells = 0;
  const t0 = performance.now();
  for (const [name, series] of loaded) {
    const r = runBacktest(series, { window: 'day', checkpoints: [6, 12, 18], config });
    cells.push(`${name} ${[6, 12, 18].map((k) => (r.mape[String(k)] ?? NaN).toFixed(1)).join('/')}`);
    for (const k of ['6', '12', '18']) {
      const best = Math.min(...Object.values(r.baselines).map((b) => b[k] ?? Infinity));
      logRatio += Math.log((r.mape[k] ?? NaN) / best);
      nCells++;
    }
  }
  // Score: geometric mean over the 15 cells of model MAPE / best baseline MAPE (lower is better).
  const score = Math.exp(logRatio / nCells).toFixed(3);
  console.log(`${cand.padEnd(34)} ${score} ${cells.join(' | ')}  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

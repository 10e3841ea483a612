/**
 * Compares forecaster configurations by backtest on the dev series in ../shared/data
 * (the evidence behind DEFAULT_CONFIG). Usage: npx tsx bench/forecast-candidates.ts [DATA_DIR]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSeriesCsv, type LoadOptions } from '../src/forecast/csv.ts';
import { runBacktest } from '../src/forecast/backtest.ts';
import { DEFAULT_CONFIG, type ModelConfig } from '../src/forecast/model.ts';

const dir = process.argv[2] ?? '../shared/data/normalized';
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
const r6 = { ratioHours: 6 };
export const CANDIDATES: Record<string, Partial<ModelConfig>> = {
  'r6': cal({ ...r6 }),
  'r6,minHist1': { ...cal({ ...r6 }), minHistoryDays: 1 },
  'r6,profile-only': cal({ ...r6, select: 'profile' }),
  'r6,margin0': cal({ ...r6, selectionMargin: 0 }),
  'r6,margin0.2': cal({ ...r6, selectionMargin: 0.2 }),
  'r6,selMin10': cal({ ...r6, selectionMinDays: 10 }),
  'r6,calHL7': cal({ ...r6, halfLifeDays: 7 }),
  'r6,calHL28': cal({ ...r6, halfLifeDays: 28 }),
  'r6,pseudo0.05': cal({ ...r6, ratioPseudoDay: 0.05 }),
  'r6,pseudo0.01': cal({ ...r6, ratioPseudoDay: 0.01 }),
  'r6,wPrior1': cal({ ...r6, wPriorDays: 1 }),
  'r6,wPrior4': cal({ ...r6, wPriorDays: 4 }),
  'r6,level:trend': { ...cal({ ...r6 }), ...lvl({ trend: true }) },
  'r6,level:HL28': { ...cal({ ...r6 }), ...lvl({ halfLifeDays: 28 }) },
  'r6,level:HL7': { ...cal({ ...r6 }), ...lvl({ halfLifeDays: 7 }) },
  'r6,shape:HL14': { ...cal({ ...r6 }), ...shp({ halfLifeDays: 14 }) },
  'r6,shape:sameWd1': { ...cal({ ...r6 }), ...shp({ sameWeekday: 1 }) },
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
  console.log(`${cand.padEnd(22)} ${score} ${cells.join(' | ')}  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

/**
 * The dev series the forecaster is judged on (data/, each with the target `backtest` picks
 * by default: cost where the file has tokens, requests otherwise), and the candidate
 * configurations that leave-one-series-out chooses among.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSeriesCsv, type LoadOptions } from '../../src/forecast/eval/csv.ts';
import type { EvalSeries } from './evaluate.ts';
import type { Fold } from './nested.ts';
import { DEFAULT_CONFIG, type ModelConfig } from '../../src/forecast/model.ts';

/** [name, file of data/, what to read]; the pacing outcomes (pacing.ts) replay the same files. */
export const DEV_FILES: readonly [string, string, LoadOptions][] = [
  ['burstgpt conversation', 'burstgpt_hourly_days00-41.csv', { model: 'burstgpt/conversation-log' }],
  ['burstgpt all', 'burstgpt_hourly_days00-41.csv', {}],
  ['servegen m-large', 'servegen_m-large_10min_days00-09.csv', {}],
  ['servegen m-mid', 'servegen_m-mid_10min_days00-09.csv', {}],
  ['servegen m-small', 'servegen_m-small_10min_days00-09.csv', {}],
];

export function loadDevSeries(dir = 'data'): EvalSeries[] {
  return DEV_FILES.map(([name, file, o]) => ({ name, series: parseSeriesCsv(readFileSync(join(dir, file), 'utf8'), o).series }));
}

const C = DEFAULT_CONFIG;
const cal = (o: Partial<ModelConfig['calibration']>): Partial<ModelConfig> => ({ calibration: { ...C.calibration, ...o } });
const lvl = (o: Partial<ModelConfig['level']>): Partial<ModelConfig> => ({ level: { ...C.level, ...o } });

/** The tunables leave-one-series-out chooses among: DEFAULT_CONFIG first, then one change each. */
const shp = (o: Partial<ModelConfig['shape']>): Partial<ModelConfig> => ({ shape: { ...C.shape, ...o } });

export const CANDIDATES: Record<string, Partial<ModelConfig>> = {
  default: {},
  'no APE point correction': cal({ pointPriorDays: Infinity }),
  'combination prior 10 d': cal({ priorDays: 10 }),
  'combination prior 40 d': cal({ priorDays: 40 }),
  'spreads: prior worth 3 days': cal({ spreadPriorDays: 3 }),
  'linear prior share 0.3': cal({ priorProfile: 0.7 }),
  'linear prior share 0.7': cal({ priorProfile: 0.3 }),
  'select one method': cal({ combine: 'select' }),
  'shape: pointwise median': shp({ average: 'median' }),
  'weekday ridge 0.5': lvl({ weeklyRidge: 0.5 }),
  'ratio over 12 h': cal({ ratioHours: 12 }),
  'shape roughness ignored': cal({ roughnessMax: Infinity }),
  'roughness max 0.6': cal({ roughnessMax: 0.6 }),
  'roughness max 1': cal({ roughnessMax: 1 }),
};

/**
 * The nested evaluation's splits (bench/forecast/nested.ts). `holdout` is the one whose outer
 * side is read once per change, after the change was judged on its inner side; the others
 * rotate every source and family through an outer side, to show how far inner figures
 * over-promise.
 */
export const FOLDS: Fold[] = [
  { name: 'holdout', outer: ['servegen m-large', 'trend', 'regular-night'] },
  { name: 'fold A', outer: ['burstgpt conversation', 'weekday'] },
  { name: 'fold B', outer: ['burstgpt all', 'burst'] },
  { name: 'fold C', outer: ['servegen m-mid', 'swings'] },
  { name: 'fold D', outer: ['servegen m-small', 'shift', 'regular-day'] },
];

/** The tunables the nested evaluation chooses among (a subset of CANDIDATES: each costs a full pass). */
export const NESTED_CANDIDATES: string[] = [
  'default',
  'combination prior 10 d',
  'combination prior 40 d',
  'spreads: prior worth 3 days',
  'linear prior share 0.3',
  'linear prior share 0.7',
  'weekday ridge 0.5',
  'ratio over 12 h',
];

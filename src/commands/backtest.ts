/**
 * `claude-meter backtest --series FILE [...]` (the options: BACKTEST below, or `--help`).
 *
 * Walk-forward accuracy of the forecaster on a normalized series (the forms of data/README.md),
 * next to the naive baselines. Exit 0 on success, 2 for a bad flag or file (with a message).
 */
import { readFile } from 'node:fs/promises';
import { runBacktest, type BacktestResult } from '../forecast/eval/backtest.ts';
import { DEFAULT_PRICES, parseSeriesCsv, SeriesInputError, TARGETS, type LoadOptions, type Target } from '../forecast/eval/csv.ts';
import { runCommand, UsageError, type CommandSpec, type Io, type Values } from './args.ts';

export const BACKTEST = {
  name: 'backtest',
  summary: 'forecaster accuracy against naive baselines on a normalized series (the forms of data/README.md)',
  options: {
    series: { type: 'string', value: 'FILE', required: true, description: 'the series: per-request or aggregated CSV' },
    model: { type: 'string', value: 'NAME', description: 'keep only rows with this model label (default: all rows, summed)' },
    target: {
      type: 'string',
      choices: TARGETS,
      description: 'what is forecast (default: cost when the series has token counts, else requests)',
    },
    window: { type: 'string', choices: ['day', 'month'], default: 'day', description: 'a calendar day, or a rolling 30 days' },
    at: {
      type: 'string',
      value: 'LIST',
      description: 'checkpoints: hours into a day window, days into a month window (default: 6,12,18 for day, 7,14,21 for month)',
    },
    'eval-from': {
      type: 'string',
      value: 'DAY',
      description: 'the first evaluated day (day windows) or window start day (month), 0 = the first day (default: 1 for day, 0 for month)',
    },
    history: {
      type: 'string',
      value: 'DAYS',
      description: 'show the forecaster and baselines only this many days before each evaluated day (--window day)',
    },
    'price-input': {
      type: 'string',
      value: 'USD',
      default: String(DEFAULT_PRICES.inputPerMTok),
      description: 'price per million input tokens, for --target cost',
    },
    'price-output': {
      type: 'string',
      value: 'USD',
      default: String(DEFAULT_PRICES.outputPerMTok),
      description: 'price per million output tokens, for --target cost',
    },
    'scale-token-coverage': { type: 'boolean', description: 'aggregated form: scale token sums by requests / token_covered_requests' },
    json: { type: 'boolean', description: 'print JSON ({ mape, baselines, windows, ... }) instead of a table' },
  },
} as const satisfies CommandSpec;

export function runBacktestCommand(argv: readonly string[], io: Io): Promise<number> {
  return runCommand(BACKTEST, argv, io, async ({ values: v }) => {
    try {
      return await run(v, io);
    } catch (err) {
      if (!(err instanceof SeriesInputError)) throw err;
      io.stderr.write(`claude-meter backtest: ${err.message}\n`);
      return 2;
    }
  });
}

async function run(v: Values<(typeof BACKTEST)['options']>, io: Io): Promise<number> {
  const file = v.series;
  const window = v.window;
  const load: LoadOptions = {
    prices: { inputPerMTok: number(v['price-input'], '--price-input'), outputPerMTok: number(v['price-output'], '--price-output') },
  };
  if (v.target !== undefined) load.target = v.target;
  if (v.model !== undefined) load.model = v.model;
  if (v['scale-token-coverage']) load.scaleTokenCoverage = true;
  const periods = window === 'day' ? 24 : 30;
  const at = (v.at ?? (window === 'day' ? '6,12,18' : '7,14,21')).split(',').map((s) => {
    const k = Number(s.trim());
    if (!Number.isInteger(k) || k < 1 || k >= periods) {
      throw new UsageError(`--at: '${s}' is not a whole ${window === 'day' ? 'hour in 1..23' : 'day in 1..29'}`);
    }
    return k;
  });
  const evalFrom = v['eval-from'] === undefined ? undefined : number(v['eval-from'], '--eval-from');
  if (evalFrom !== undefined && !Number.isInteger(evalFrom)) throw new UsageError('--eval-from must be a whole day index (0 = first day)');
  const history = v.history === undefined ? undefined : number(v.history, '--history');
  if (history !== undefined && (!Number.isInteger(history) || history < 1 || window !== 'day')) {
    throw new UsageError('--history must be a whole number of days ≥ 1, with --window day');
  }

  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read --series ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const loaded = parseSeriesCsv(text, load);
  const result = runBacktest(loaded.series, {
    window,
    checkpoints: at,
    ...(evalFrom === undefined ? {} : { evalFrom }),
    ...(history === undefined ? {} : { history }),
  });
  if (result.windows === 0) {
    throw new UsageError(
      `no ${window} window to evaluate: the series has ${result.days} whole day(s)` +
        (window === 'day' ? ' (needs at least 2, or --eval-from 0)' : ' (a month window needs 30)') +
        (result.skippedZero > 0 ? `, ${result.skippedZero} skipped with a zero total` : ''),
    );
  }
  const meta = { series: file, model: v.model ?? null, target: loaded.target, form: loaded.form };
  io.stdout.write(v.json ? `${JSON.stringify(toJson(result, meta))}\n` : formatTable(result, meta));
  return 0;
}

function number(v: string, flag: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`${flag} must be a non-negative number, got '${v}'`);
  return n;
}

interface Meta {
  series: string;
  model: string | null;
  target: Target;
  form: string;
}

/** Best baseline and the model's improvement over it, per checkpoint. */
function bestBaselines(r: BacktestResult): Record<string, { name: string; mape: number; improvementPct: number }> {
  const out: Record<string, { name: string; mape: number; improvementPct: number }> = {};
  for (const k of r.checkpoints.map(String)) {
    let name = '';
    let mape = Infinity;
    for (const [b, per] of Object.entries(r.baselines)) {
      const v = per?.[k] ?? Infinity;
      if (v < mape) [name, mape] = [b, v];
    }
    out[k] = { name, mape, improvementPct: (100 * (mape - (r.mape[k] ?? NaN))) / mape };
  }
  return out;
}

/** The issue's shape `{ mape, baselines, windows }` plus context keys. */
export function toJson(r: BacktestResult, meta: Meta): Record<string, unknown> {
  return {
    mape: r.mape,
    baselines: r.baselines,
    windows: r.windows,
    // 100 − MAPE, the "forecast accuracy" of capacity-planning write-ups.
    accuracy: Object.fromEntries(Object.entries(r.mape).map(([k, v]) => [k, 100 - v])),
    bias: r.bias,
    baselineBias: r.baselineBias,
    ...meta,
    window: r.window,
    checkpoints: r.checkpoints,
    days: r.days,
    firstEvaluated: r.firstEvaluated,
    skippedZero: r.skippedZero,
    best: bestBaselines(r),
    baselineFallbacks: r.baselineFallbacks,
    methods: r.methods,
    coverage: r.coverage,
    coldStarts: r.coldStarts,
  };
}

export function formatTable(r: BacktestResult, meta: Meta): string {
  const unit = r.window === 'day' ? 'H' : 'D';
  const names = Object.keys(r.baselines);
  const best = bestBaselines(r);
  const f = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(1));
  const rows = [[`${unit}`, 'model', 'accuracy', 'bias', ...names, 'best baseline', 'vs best', 'p10–p90 coverage']];
  for (const k of r.checkpoints.map(String)) {
    const b = best[k];
    const imp = b === undefined ? '—' : `${b.improvementPct >= 0 ? '−' : '+'}${Math.abs(b.improvementPct).toFixed(1)}%`;
    const bias = r.bias[k];
    const signed = bias === undefined || !Number.isFinite(bias) ? '—' : `${bias >= 0 ? '+' : '−'}${Math.abs(bias).toFixed(1)}`;
    rows.push([
      `${unit}=${k}`,
      f(r.mape[k]),
      `${f(100 - (r.mape[k] ?? NaN))}%`,
      signed,
      ...names.map((n) => f(r.baselines[n as keyof typeof r.baselines]?.[k])),
      b === undefined ? '—' : `${b.name} ${f(b.mape)}`,
      imp,
      `${Math.round(100 * (r.coverage[k] ?? 0))}%`,
    ]);
  }
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  const lines = rows.map((row) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  '));
  const last = r.firstEvaluated + r.windows + r.skippedZero - 1;
  const notes = [
    `series ${meta.series} (${meta.form}${meta.model === null ? ', all rows' : `, model ${meta.model}`}), target ${meta.target}, ${r.days} whole days`,
    `MAPE % over ${r.windows} ${r.window} window(s) ${r.window === 'day' ? 'days' : 'starting days'} ${r.firstEvaluated}–${last}; lower is better; accuracy = 100 − MAPE; bias = mean signed error % (+ over-forecasts)`,
  ];
  if (r.skippedZero > 0) notes.push(`${r.skippedZero} window(s) skipped: actual total 0 (no percentage error)`);
  for (const [b, per] of Object.entries(r.baselineFallbacks)) {
    const n = Object.values(per ?? {}).reduce((a, v) => a + v, 0);
    if (n > 0) notes.push(`${b}: undefined (zero reference fraction) ${n} time(s), scored as linear there`);
  }
  if (r.coldStarts > 0) notes.push(`${r.coldStarts} window(s) forecast on a cold start (< 2 whole days of history)`);
  const used = Object.entries(r.methods).map(([m, per]) => `${m} ${Object.values(per).reduce((a, v) => a + v, 0)}`);
  notes.push(`methods used (all checkpoints): ${used.join(', ')}`);
  if (r.window === 'month')
    notes.push('month windows: rolling 30 days; only the linear baseline is defined (see src/forecast/eval/baselines.ts)');
  return `${notes.slice(0, 2).join('\n')}\n\n${lines.join('\n')}\n\n${notes.slice(2).join('\n')}\n`;
}

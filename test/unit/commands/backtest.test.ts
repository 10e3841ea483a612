/**
 * `claude-meter backtest` against baselines computed by hand on small fixtures.
 *
 * test/fixtures/forecast/hourly-4days.csv (aggregated, BurstGPT-like, no tokens): label
 * fixture/a has, per day, four 6-hour blocks of equal hourly values
 *   day 0: 1,2,3,4 per hour → block sums  6,12,18,24  total 60  cum@6/12/18 =  6/18/36
 *   day 1: 2,2,4,4          →            12,12,24,24  total 72               12/24/48
 *   day 2: 1,3,3,1          →             6,18,18, 6  total 48                6/24/42
 *   day 3: 2,4,2,4          →            12,24,12,24  total 72               12/36/48
 * and fixture/b is 1 request every hour. Evaluated days (default): 1, 2, 3.
 *
 * fixture/a, H=6:
 *   linear  cum×4:       48 vs 72 → 1/3;  24 vs 48 → 1/2;   48 vs 72 → 1/3       MAPE 38.888…
 *   snaive1 cum÷frac(d−1): 12÷(6/60)=120 → 2/3;  6÷(12/72)=36 → 1/4;  12÷(6/48)=96 → 1/3   MAPE 41.666…
 *   snaive7 pooled:      120 → 2/3;  6÷(18/132)=44 → 1/12;  12÷(24/180)=90 → 1/4  MAPE 33.333…
 * H=12:
 *   linear  cum×2:       48 → 1/3;  48 → 0;  72 → 0                               MAPE 11.111…
 *   snaive1:             24÷0.3=80 → 1/9;  24÷(1/3)=72 → 1/2;  36÷0.5=72 → 0      MAPE 20.370…
 *   snaive7:             80 → 1/9;  24÷(42/132) → 4/7;  36÷(66/180) → 4/11         MAPE (1/9+4/7+4/11)/3
 * H=18:
 *   linear  cum×4/3:     64 → 1/9;  56 → 1/6;  64 → 1/9                           MAPE 12.962…
 *   snaive1:             36÷0.6=80 → 1/9;  42÷(2/3)=63 → 5/16;  48÷(7/8) → 5/21   MAPE (1/9+5/16+5/21)/3
 *   snaive7:             80 → 1/9;  42÷(84/132)=66 → 3/8;  48÷0.7 → 1/21           MAPE (1/9+3/8+1/21)/3
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { runBacktestCommand } from '../../../src/commands/backtest.ts';

const fixture = (name: string) => fileURLToPath(new URL(`../../fixtures/forecast/${name}`, import.meta.url));
const HOURLY = fixture('hourly-4days.csv');
const REQUESTS = fixture('requests-2days.csv');
const TENMIN = fixture('tenmin-3days.csv');

interface Captured {
  code: number;
  out: string;
  err: string;
}

async function run(...argv: string[]): Promise<Captured> {
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void) =>
    new Writable({
      write(chunk: Buffer | string, _enc, done) {
        append(String(chunk));
        done();
      },
    });
  const code = await runBacktestCommand(argv, { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)) });
  return { code, out, err };
}

interface JsonOut {
  mape: Record<string, number>;
  baselines: Record<string, Record<string, number>>;
  windows: number;
  target: string;
  baselineFallbacks: Record<string, Record<string, number>>;
}

async function json(...argv: string[]): Promise<JsonOut> {
  const r = await run(...argv, '--json');
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out) as JsonOut;
}

const pct = (...apes: number[]) => (100 * apes.reduce((a, b) => a + b, 0)) / apes.length;

function close(actual: number | undefined, expected: number, what: string): void {
  assert.ok(actual !== undefined && Math.abs(actual - expected) < 1e-9, `${what}: ${actual} ≠ ${expected}`);
}

test('baselines match the hand-computed MAPEs (model filter, aggregated form)', async () => {
  const r = await json('--series', HOURLY, '--model', 'fixture/a');
  assert.equal(r.windows, 3);
  assert.equal(r.target, 'requests', 'no token columns: the default target is requests');
  const b = r.baselines;
  close(b['linear']?.['6'], pct(1 / 3, 1 / 2, 1 / 3), 'linear H6');
  close(b['snaive1']?.['6'], pct(2 / 3, 1 / 4, 1 / 3), 'snaive1 H6');
  close(b['snaive7']?.['6'], pct(2 / 3, 1 / 12, 1 / 4), 'snaive7 H6');
  close(b['linear']?.['12'], pct(1 / 3, 0, 0), 'linear H12');
  close(b['snaive1']?.['12'], pct(1 / 9, 1 / 2, 0), 'snaive1 H12');
  close(b['snaive7']?.['12'], pct(1 / 9, 4 / 7, 4 / 11), 'snaive7 H12');
  close(b['linear']?.['18'], pct(1 / 9, 1 / 6, 1 / 9), 'linear H18');
  close(b['snaive1']?.['18'], pct(1 / 9, 5 / 16, 5 / 21), 'snaive1 H18');
  close(b['snaive7']?.['18'], pct(1 / 9, 3 / 8, 1 / 21), 'snaive7 H18');
});

test('--json has exactly the issue shape at its core', async () => {
  const r = await json('--series', HOURLY, '--model', 'fixture/a', '--at', '6,18');
  assert.deepEqual(Object.keys(r.mape), ['6', '18']);
  assert.deepEqual(Object.keys(r.baselines).sort(), ['linear', 'snaive1', 'snaive7']);
  for (const per of Object.values(r.baselines)) assert.deepEqual(Object.keys(per), ['6', '18']);
  for (const v of Object.values(r.mape)) assert.ok(Number.isFinite(v));
  assert.equal(typeof r.windows, 'number');
});

test('the model filter keeps one label; without it all rows are summed', async () => {
  const flat = await json('--series', HOURLY, '--model', 'fixture/b');
  for (const per of Object.values(flat.baselines)) for (const v of Object.values(per)) close(v, 0, 'flat series is exact');
  const all = await json('--series', HOURLY);
  // a + b on day 1 at H6: cum 18, total 96, linear 72 → 1/4 (vs 1/3 for a alone).
  assert.ok(Math.abs((all.baselines['linear']?.['6'] ?? 0) - pct(1 / 3, 1 / 2, 1 / 3)) > 1, 'summed series differs from fixture/a');
  const missing = await run('--series', HOURLY, '--model', 'nope');
  assert.equal(missing.code, 2);
  assert.match(missing.err, /no rows with model 'nope' \(models: fixture\/a, fixture\/b\)/);
});

test('--eval-from sets the first evaluated day; day 0 has no history so seasonal baselines fall back', async () => {
  const from2 = await json('--series', HOURLY, '--model', 'fixture/a', '--eval-from', '2');
  assert.equal(from2.windows, 2);
  close(from2.baselines['linear']?.['6'], pct(1 / 2, 1 / 3), 'linear H6 days 2-3');
  close(from2.baselines['snaive1']?.['6'], pct(1 / 4, 1 / 3), 'snaive1 H6 days 2-3');
  const from0 = await json('--series', HOURLY, '--model', 'fixture/a', '--eval-from', '0');
  assert.equal(from0.windows, 4);
  // Day 0: cum 6 → linear 24 vs 60 → 3/5, also scored for the undefined seasonal baselines.
  close(from0.baselines['linear']?.['6'], pct(3 / 5, 1 / 3, 1 / 2, 1 / 3), 'linear H6 days 0-3');
  close(from0.baselines['snaive1']?.['6'], pct(3 / 5, 2 / 3, 1 / 4, 1 / 3), 'snaive1 H6 with day 0 as linear');
  assert.equal(from0.baselineFallbacks['snaive1']?.['6'], 1);
});

test('per-request form: tokens and cost targets, by hand (2024-01-01/02 UTC)', async () => {
  // Tokens: day 0 total 5500, cum@6/12/18 1100/2200/4400; day 1 total 7700, cum 2200/2200/5500.
  const tokens = await json('--series', REQUESTS, '--target', 'tokens');
  assert.equal(tokens.windows, 1);
  close(tokens.baselines['linear']?.['6'], pct(1100 / 7700), 'linear H6: 8800 vs 7700');
  close(tokens.baselines['snaive1']?.['6'], pct(3300 / 7700), 'snaive1 H6: 2200÷0.2 = 11000');
  close(tokens.baselines['snaive1']?.['12'], pct(2200 / 7700), 'snaive1 H12: 2200÷0.4 = 5500');
  close(tokens.baselines['linear']?.['18'], pct((7700 - 5500 * (4 / 3)) / 7700), 'linear H18');
  // Every request has input:output 10:1, so cost is proportional to tokens: same MAPEs, any price.
  const cost = await json('--series', REQUESTS);
  assert.equal(cost.target, 'cost', 'tokens present: the default target is cost');
  close(cost.baselines['snaive1']?.['6'], pct(3300 / 7700), 'cost snaive1 H6');
  const priced = await json('--series', REQUESTS, '--price-input', '1', '--price-output', '1');
  close(priced.baselines['linear']?.['18'], tokens.baselines['linear']?.['18'] ?? NaN, 'priced');
  // Requests: day 0 has 4 (1/2/3 by 6/12/18), day 1 has 5 (2/2/3): linear H6 = 8 vs 5.
  const requests = await json('--series', REQUESTS, '--target', 'requests');
  close(requests.baselines['linear']?.['6'], pct(3 / 5), 'requests linear H6');
});

test('10-minute windows are summed into hours; a flat series is forecast exactly', async () => {
  const r = await json('--series', TENMIN, '--target', 'tokens');
  assert.equal(r.windows, 2);
  for (const v of Object.values(r.mape)) assert.ok(v < 1e-6, `model MAPE ${v}`);
});

test('target and flag errors exit 2 with a message', async () => {
  const cases: [string[], RegExp][] = [
    [['--series', HOURLY, '--target', 'tokens'], /target 'tokens' needs token counts.*--target requests/],
    [['--series', HOURLY, '--target', 'cost'], /target 'cost' needs token counts/],
    [['--series', HOURLY, '--target', 'watts'], /--target must be one of cost, tokens, requests/],
    [[], /--series FILE is required/],
    [['--series', fixture('missing.csv')], /cannot read --series/],
    [['--series', HOURLY, '--at', '6,25'], /--at: '25'/],
    [['--series', HOURLY, '--window', 'week'], /--window must be one of day, month/],
    [['--series', HOURLY, '--bogus'], /unknown flag '--bogus'/],
    [['--series', HOURLY, '--eval-from', 'x'], /--eval-from/],
    [['--series', HOURLY, '--window', 'month'], /no month window to evaluate: the series has 4 whole day/],
  ];
  for (const [argv, re] of cases) {
    const r = await run(...argv);
    assert.equal(r.code, 2, `${argv.join(' ')} → ${r.code}`);
    assert.match(r.err, re, argv.join(' '));
    assert.equal(r.out, '');
  }
});

test('the table names the best baseline and the improvement', async () => {
  const r = await run('--series', HOURLY, '--model', 'fixture/a');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /H=6 .* snaive7 33\.3 /);
  assert.match(r.out, /MAPE % over 3 day window\(s\) days 1–3/);
});

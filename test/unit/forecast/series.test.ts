import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baselinePredictions, pooledFractionBaseline } from '../../../src/forecast/eval/baselines.ts';
import { parseSeriesCsv, SeriesInputError } from '../../../src/forecast/eval/csv.ts';
import { DAY_MS, HOUR_MS } from '../../../src/core/time.ts';
import { cumulative, dailyTable, makeSeries, resample, resampleHourly, sliceSeries, sumRange } from '../../../src/forecast/series.ts';

test('resample sums into aligned buckets and splits a straddling bucket by overlap', () => {
  const tenMin = makeSeries(0, 600_000, [1, 2, 3, 4, 5, 6, 7]);
  const h = resampleHourly(tenMin);
  assert.equal(h.start, 0);
  assert.deepEqual([...h.values], [21, 7]);
  const half = resample(makeSeries(30 * 60_000, HOUR_MS, [10, 20]), HOUR_MS);
  assert.deepEqual([...half.values], [5, 15, 10]);
  assert.equal(resampleHourly(h), h, 'already hourly: unchanged');
});

test('cumulative, sumRange (pro-rated) and slicing', () => {
  assert.deepEqual([...cumulative([1, 2, 3])], [1, 3, 6]);
  const s = makeSeries(0, HOUR_MS, [10, 20, 30]);
  assert.equal(sumRange(s, 0, 3 * HOUR_MS), 60);
  assert.equal(sumRange(s, 30 * 60_000, 90 * 60_000), 15);
  assert.equal(sumRange(s, -HOUR_MS, 0), 0);
  assert.deepEqual([...sliceSeries(s, HOUR_MS, 10 * HOUR_MS).values], [20, 30]);
});

test('dailyTable keeps whole days only, on the day grid of dayOffsetMs', () => {
  const s = makeSeries(
    -3 * HOUR_MS,
    HOUR_MS,
    Array.from({ length: 24 * 2 + 5 }, (_, i) => i),
  );
  const t = dailyTable(s);
  assert.equal(t.firstDay, 0);
  assert.equal(t.rows.length, 2, 'the 3 hours before day 0 and the 2 after day 1 are partial');
  assert.equal(t.rows[0]?.[0], 3);
  const shifted = dailyTable(s, -3 * HOUR_MS);
  assert.equal(shifted.rows.length, 2);
  assert.equal(shifted.rows[0]?.[0], 0);
  assert.equal(shifted.totals[1], (24 + 47) * 12);
  assert.equal(DAY_MS, 24 * HOUR_MS);
});

test('baselines: undefined seasonal fractions are null, not Infinity', () => {
  const rows = [new Float64Array(24).fill(0), Float64Array.from({ length: 24 }, (_, h) => (h >= 12 ? 1 : 0)), new Float64Array(24).fill(1)];
  assert.equal(pooledFractionBaseline(5, 6, [rows[1] ?? new Float64Array(24)]), null, 'nothing by 06:00 yesterday');
  const p = baselinePredictions(rows, 2, 6);
  assert.equal(p.linear, 24);
  assert.equal(p.snaive1, null);
  assert.equal(p.snaive7, null);
  assert.equal(baselinePredictions(rows, 2, 18).snaive7, 18 / 0.5, 'pooled: 6 of 12 by 18:00');
});

test('csv: header, numbers and window sizes are checked', () => {
  assert.throws(() => parseSeriesCsv('a,b\n1,2\n'), SeriesInputError);
  const agg = 'window_start_ms,window_ms,model,requests,input_tokens,output_tokens,token_covered_requests\n';
  assert.throws(() => parseSeriesCsv(`${agg}0,600000,m,x,,,\n`), /line 2: bad requests 'x'/);
  assert.throws(() => parseSeriesCsv(`${agg}0,600000,m,1,,,\n600000,3600000,m,1,,,\n`), /mixed window_ms/);
  assert.throws(() => parseSeriesCsv(agg), /no data rows/);
  const scaled = parseSeriesCsv(`${agg}0,600000,m,10,100,50,5\n`, { target: 'tokens', scaleTokenCoverage: true });
  assert.equal(scaled.series.values[0], 300, '150 tokens over 5 of 10 requests → 300');
  const cost = parseSeriesCsv(`${agg}0,600000,m,10,1000000,1000000,10\n`);
  assert.equal(cost.target, 'cost');
  assert.equal(cost.series.values[0], 18, '$3 + $15 per MTok');
  const custom = parseSeriesCsv(`${agg}0,600000,m,10,1000000,1000000,10\n`, { prices: { inputPerMTok: 1, outputPerMTok: 2 } });
  assert.equal(custom.series.values[0], 3);
});

/**
 * The spreads behind the pace's weight (calibrate.ts): a young series leaves the prior spread
 * (0.15 of a day's total) as fast when it is far more regular than that as when it is far
 * less, because the measured spread and the prior are pooled in log space.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { calibrateHour, DEFAULT_CALIBRATION, pooledVar } from '../../../src/forecast/calibrate.ts';
import { dayPrior, type DayHistory } from '../../../src/forecast/methods.ts';
import { DEFAULT_LEVEL } from '../../../src/forecast/level.ts';
import { fitForecaster } from '../../../src/forecast/model.ts';
import { makeSeries } from '../../../src/forecast/series.ts';
import { DEFAULT_SHAPE } from '../../../src/forecast/shape.ts';
import { DAY_MS, HOUR_MS } from '../../../src/core/time.ts';

/** Deterministic noise in [-1, 1] (no Math.random in tests). */
const noise = (i: number) => 2 * (Math.sin(i * 12.9898) * 43758.5453 - Math.floor(Math.sin(i * 12.9898) * 43758.5453) - 0.5);

/** `days` whole days of an office-hours shape whose day levels stray by ±`dayStray`. */
function history(days: number, dayStray: number): DayHistory {
  const rows = Array.from({ length: days }, (_, d) =>
    Float64Array.from(
      { length: 24 },
      (_, h) => (1 + dayStray * noise(d + 1)) * (1 + 9 * Math.exp(-(((h - 14) / 4) ** 2))) * (1 + 0.1 * noise(100 + 24 * d + h)),
    ),
  );
  return { firstDay: 0, rows, totals: Float64Array.from(rows, (r) => r.reduce((a, b) => a + b, 0)) };
}

function levelSd(dayStray: number, days = 4): number {
  const hist = history(days, dayStray);
  const o = { level: DEFAULT_LEVEL, shape: DEFAULT_SHAPE };
  const priors = hist.rows.map((_, i) => dayPrior(hist, i, o));
  const today = dayPrior(hist, days, o);
  assert.ok(today !== null);
  const cal = calibrateHour(hist, priors, today, 6, DEFAULT_CALIBRATION, 1);
  return Math.sqrt(cal.params.levelVar ?? NaN);
}

test('days within 1 % of each other: after 4 days the level spread has left the prior 0.15 for a small one', () => {
  // The arithmetic pooling of before kept it at 0.11.
  const sd = levelSd(0.01);
  assert.ok(sd < 0.05, `level spread ${sd.toFixed(3)}`);
});

test('log-space pooling: a spread r times the prior moves it as far as one 1/r times it', () => {
  const prior = 0.0225;
  for (const r of [4, 10]) {
    const up = pooledVar(3 * prior * r, 3, prior, 1);
    const down = pooledVar((3 * prior) / r, 3, prior, 1);
    assert.ok(Math.abs(Math.log(up * down) - 2 * Math.log(prior)) < 1e-9, `r ${r}: ${up} · ${down}`);
    assert.ok(up > prior && down < prior);
  }
  // One day's squared error near zero by chance: floored at 1 % of the prior, not trusted as 0.
  assert.ok(Math.abs(pooledVar(0, 1, prior, 1) - prior * 0.1) < 1e-12);
  // No measured day: the prior; no usable prior: the measured spread alone.
  assert.equal(pooledVar(0, 0, prior, 1), prior);
  assert.equal(pooledVar(0.5, 2, 0, 1), 0.25);
});

test('a service with no spend after 17:00: the projection late in the day is finite, ordered and no level change', () => {
  // Exact zeros after office hours make the shape's share by 20:30 one (or a rounding hair
  // above it), where the pace's prior spread, 0.01·(1 − c)/c, is zero or negative.
  for (let t = 0; t < 40; t++) {
    const days = 3 + (t % 6);
    const vals: number[] = [];
    for (let d = 0; d <= days; d++)
      for (let h = 0; h < (d === days ? 21 : 24); h++)
        vals.push(h >= 8 && h < 17 ? Math.round(1e9 * (2 + noise(t * 1000 + d * 24 + h))) : 0);
    const now = (days * 24 + 20.5) * HOUR_MS;
    const spent = vals.slice(days * 24).reduce((a, b) => a + b, 0);
    const p = fitForecaster(makeSeries(0, HOUR_MS, vals), { now }).projectWindow({
      windowStart: days * DAY_MS,
      windowEnd: (days + 1) * DAY_MS,
      now,
      spentSoFar: spent,
    });
    assert.ok([p.p10, p.p50, p.p90].every(Number.isFinite), `trial ${t}: ${JSON.stringify(p)}`);
    assert.ok(spent <= p.p10 && p.p10 <= p.p50 && p.p50 <= p.p90, `trial ${t}: ${JSON.stringify(p)}`);
    assert.equal(p.levelChanged, false, `trial ${t}`);
    assert.notEqual(p.method, 'blend()', `trial ${t}`);
  }
});

test('one day of history: no spread measured yet, the prior as it is', () => {
  assert.ok(Math.abs(levelSd(0.01, 1) - DEFAULT_CALIBRATION.levelSdPrior) < 1e-9);
});

/**
 * The spreads behind the pace's weight (calibrate.ts): a young series leaves the prior spread
 * (0.15 of a day's total) as fast when it is far more regular than that as when it is far
 * less, because the measured spread and the prior are pooled in log space.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { calibrateHour, DEFAULT_CALIBRATION } from '../../../src/forecast/calibrate.ts';
import { dayPrior, type DayHistory } from '../../../src/forecast/methods.ts';
import { DEFAULT_LEVEL } from '../../../src/forecast/level.ts';
import { DEFAULT_SHAPE } from '../../../src/forecast/shape.ts';

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

test('days within 1 % of each other: after 4 days the level spread is near theirs, not the prior 0.15', () => {
  const sd = levelSd(0.01);
  assert.ok(sd < 0.05, `level spread ${sd.toFixed(3)}`);
});

test('days ±50 % apart: the level spread rises above the prior as fast', () => {
  const sd = levelSd(0.5);
  assert.ok(sd > 0.3, `level spread ${sd.toFixed(3)}`);
});

test('one day of history: no spread measured yet, the prior as it is', () => {
  assert.ok(Math.abs(levelSd(0.01, 1) - DEFAULT_CALIBRATION.levelSdPrior) < 1e-9);
});

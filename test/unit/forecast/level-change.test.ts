/**
 * Level changes (issue #21 part 3): a level that moves overnight is followed within the day
 * and reported (Projection.levelChanged → `level_changed` in GET /_meter/forecast), and the
 * real series' reverting swings are not reported as moves.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadDevSeries } from '../../../bench/forecast/harness.ts';
import { falseReportsPer10Days, modelFn, scoreItem } from '../../../bench/forecast/nested.ts';
import { buildItems } from '../../../bench/forecast/synth.ts';
import { DAY_MS, HOUR_MS } from '../../../src/core/time.ts';
import { fitForecaster } from '../../../src/forecast/model.ts';
import { buildPath } from '../../../src/forecast/path.ts';
import { makeSeries } from '../../../src/forecast/series.ts';

/** Deterministic noise in [-0.5, 0.5). */
const noise = (i: number) => {
  const x = Math.sin(i * 12.9898) * 43758.5453;
  return x - Math.floor(x) - 0.5;
};

/** 10 steady days (a daytime peak, ±4 % days, ±10 % hours), then day 10 at `factor` × the level, seen up to hour h. */
function shifted(factor: number, h: number): { series: ReturnType<typeof makeSeries>; actual: number; cum: number } {
  const value = (d: number, hr: number) =>
    (d >= 10 ? factor : 1) * (1 + 0.08 * noise(d)) * (0.3 + Math.exp(-(((hr - 14) / 4) ** 2))) * (1 + 0.2 * noise(1000 + d * 24 + hr));
  const values = Array.from({ length: 10 * 24 + h }, (_, i) => value(Math.floor(i / 24), i % 24));
  const day = Array.from({ length: 24 }, (_, hr) => value(10, hr));
  return {
    series: makeSeries(0, HOUR_MS, values),
    actual: day.reduce((a, b) => a + b, 0),
    cum: day.slice(0, h).reduce((a, b) => a + b, 0),
  };
}

function project(factor: number, h: number) {
  const { series, actual, cum } = shifted(factor, h);
  const now = 10 * DAY_MS + h * HOUR_MS;
  const p = fitForecaster(series, { now }).projectWindow({ windowStart: 10 * DAY_MS, windowEnd: 11 * DAY_MS, now, spentSoFar: cum });
  return { p, actual };
}

for (const factor of [2, 0.5]) {
  test(`a level ×${factor} overnight: reported by noon and followed (within 12 % where the days before say ${factor === 2 ? '−50' : '+100'} %)`, () => {
    const { p, actual } = project(factor, 12);
    assert.equal(p.levelChanged, true, JSON.stringify(p));
    assert.ok(Math.abs(p.p50 / actual - 1) < 0.12, `p50 ${p.p50.toFixed(1)} vs actual ${actual.toFixed(1)}`);
    assert.ok(p.p10 <= actual * 1.02 && actual <= p.p90 * 1.02, `band ${p.p10.toFixed(1)}–${p.p90.toFixed(1)} vs ${actual.toFixed(1)}`);
  });
}

test('the published path carries the belief, so every proxy reports it', () => {
  for (const [factor, moved] of [
    [0.5, true],
    [1, false],
  ] as const) {
    const { series, cum } = shifted(factor, 12);
    const now = 10 * DAY_MS + 12 * HOUR_MS;
    const path = buildPath(
      fitForecaster(series, { now }),
      { budget: 'b', instance: 'b', windowId: 'd10', windowStart: 10 * DAY_MS, windowEnd: 11 * DAY_MS, fittedAt: now },
      cum,
    );
    assert.equal(path.levelChanged, moved, `×${factor}`);
  }
});

test('an ordinary day of the same series is not reported as a level change', () => {
  for (const h of [6, 12, 18]) {
    const { p, actual } = project(1, h);
    assert.equal(p.levelChanged, false, `H${h}`);
    assert.ok(Math.abs(p.p50 / actual - 1) < 0.1, `H${h}: p50 ${p.p50.toFixed(1)} vs ${actual.toFixed(1)}`);
  }
});

test('the real series swing and come back: at most one reported level change per 10 days', () => {
  const dev = loadDevSeries();
  const names = dev.map((s) => s.name);
  const real = buildItems(dev, { perFamily: 0, bootstraps: 0, mixes: false, seed: 1 }).filter((i) => names.includes(i.name));
  assert.equal(real.length, 5);
  const f = modelFn();
  const points = real.flatMap((i) => scoreItem(i, f, { truncations: [1, 3, 7], perTruncation: 3, fullDays: 4, hours: [6, 12, 18] }));
  const rate = falseReportsPer10Days(points);
  assert.ok(rate <= 1, `${rate.toFixed(2)} reported level changes per 10 days`);
});

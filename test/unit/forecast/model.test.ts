import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runBacktest } from '../../../src/forecast/eval/backtest.ts';
import { fitForecaster } from '../../../src/forecast/model.ts';
import { DAY_MS, HOUR_MS } from '../../../src/core/time.ts';
import { makeSeries, sliceSeries, type Series } from '../../../src/forecast/series.ts';

/** Deterministic noise in [-1, 1] (no Math.random in tests). */
const noise = (i: number) => Math.sin(i * 12.9898) * 43758.5453 - Math.floor(Math.sin(i * 12.9898) * 43758.5453) - 0.5;

/** Hourly series, `days` long, value(day, hour). */
function hourly(days: number, value: (d: number, h: number) => number, start = 0): Series {
  return makeSeries(
    start,
    HOUR_MS,
    Array.from({ length: days * 24 }, (_, i) => value(Math.floor(i / 24), i % 24)),
  );
}

/** A daily cycle peaking at 15:00 (×5 the night), a ±10 % day level, and quiet weekends. */
const shaped = (d: number, h: number) =>
  (1 + 4 * Math.exp(-(((h - 15) / 3) ** 2))) * (1 + 0.2 * noise(d)) * (d % 7 >= 5 ? 0.5 : 1) * (1 + 0.1 * noise(1000 + d * 24 + h));

const flat = (days: number) => hourly(days, () => 10);

test('a series with a known daily shape: the model beats linear extrapolation at every checkpoint', () => {
  const r = runBacktest(hourly(28, shaped), { window: 'day', checkpoints: [6, 12, 18] });
  assert.equal(r.windows, 27);
  for (const k of ['6', '12', '18']) {
    const model = r.mape[k] ?? NaN;
    const linear = r.baselines.linear?.[k] ?? NaN;
    assert.ok(model < 0.6 * linear, `H${k}: model ${model.toFixed(1)} vs linear ${linear.toFixed(1)}`);
  }
  assert.ok((r.mape['6'] ?? 99) < 15, `H6 ${r.mape['6']}`);
});

test('cold start: no whole day → linear with a wide band; one day → flagged; two → calibrated', () => {
  const s = flat(5);
  const q = (now: number) => ({
    windowStart: Math.floor(now / DAY_MS) * DAY_MS,
    windowEnd: Math.floor(now / DAY_MS) * DAY_MS + DAY_MS,
    now,
    spentSoFar: 10 * ((now % DAY_MS) / HOUR_MS),
  });
  const none = fitForecaster(s, { now: 6 * HOUR_MS }).projectWindow(q(6 * HOUR_MS));
  assert.equal(none.coldStart, true);
  assert.equal(none.method, 'linear');
  assert.equal(none.p50, 240);
  // The no-history band: ×0.6 to ×7 of the $180 extrapolated for the rest of the day.
  assert.deepEqual([none.p10, none.p90], [60 + 0.6 * 180, 60 + 7 * 180], 'wide band');
  assert.equal(
    none.note,
    "no history yet: this window's pace so far, 6 h 00 min of it, extrapolated to the window's end; p10–p90 ×0.6–×7 of that",
  );
  const one = fitForecaster(s, { now: DAY_MS + 6 * HOUR_MS });
  assert.equal(one.coldStart, true);
  const p1 = one.projectWindow(q(DAY_MS + 6 * HOUR_MS));
  assert.equal(p1.coldStart, true);
  assert.match(p1.note ?? '', /cold start: 1 whole day/);
  assert.ok(Math.abs(p1.p50 - 240) < 1e-6, `yesterday's level and shape: ${p1.p50}`);
  const two = fitForecaster(s, { now: 2 * DAY_MS + 6 * HOUR_MS });
  assert.equal(two.coldStart, false);
  assert.equal(two.projectWindow(q(2 * DAY_MS + 6 * HOUR_MS)).coldStart, false);
});

test('projections are ordered spentSoFar <= p10 <= p50 <= p90, on smooth and on bursty series', () => {
  const bursty = hourly(21, (d, h) => (noise(d * 24 + h) > 0.45 ? 5000 : 0) + 10 + 5 * noise(7 * d + h));
  for (const s of [hourly(21, shaped), bursty]) {
    for (let d = 0; d < 21; d += 2) {
      for (const h of [0, 1, 6, 12.5, 18, 23]) {
        const now = d * DAY_MS + h * HOUR_MS;
        const spent = s.values.slice(d * 24, d * 24 + Math.floor(h)).reduce((a, b) => a + b, 0);
        const p = fitForecaster(s, { now }).projectWindow({ windowStart: d * DAY_MS, windowEnd: (d + 1) * DAY_MS, now, spentSoFar: spent });
        assert.ok(spent <= p.p10 && p.p10 <= p.p50 && p.p50 <= p.p90, `day ${d} h ${h}: ${spent} ${p.p10} ${p.p50} ${p.p90}`);
        assert.ok(Number.isFinite(p.p90));
      }
    }
  }
});

test('exhaustion time on a flat series is where the straight line crosses the limit', () => {
  const s = flat(6);
  const now = 5 * DAY_MS + 6 * HOUR_MS;
  const q = { windowStart: 5 * DAY_MS, windowEnd: 6 * DAY_MS, now, spentSoFar: 60 };
  const f = fitForecaster(s, { now });
  assert.ok(Math.abs(f.projectWindow(q).p50 - 240) < 1e-6);
  const t = f.exhaustionTime(180, q);
  assert.ok(t !== null && Math.abs(t - (5 * DAY_MS + 18 * HOUR_MS)) < 1, `exhausted at ${t}`);
  assert.equal(f.exhaustionTime(1000, q), null, 'not within the window');
  assert.equal(f.exhaustionTime(50, q), now, 'already over');
  // Cold start (no whole day): the window's own rate, 10/h from 00:00.
  const cold = fitForecaster(s, { now: 6 * HOUR_MS });
  const tc = cold.exhaustionTime(180, { windowStart: 0, windowEnd: DAY_MS, now: 6 * HOUR_MS, spentSoFar: 60 });
  assert.ok(tc !== null && Math.abs(tc - 18 * HOUR_MS) < 1);
});

test('multi-day windows add the level of the later days; spend after the fit is taken into account', () => {
  const s = flat(10);
  const now = 7 * DAY_MS + 12 * HOUR_MS;
  const f = fitForecaster(s, { now });
  const week = f.projectWindow({ windowStart: 7 * DAY_MS, windowEnd: 10 * DAY_MS, now, spentSoFar: 120 });
  assert.ok(Math.abs(week.p50 - 720) < 1e-6, `3 days × 240: ${week.p50}`);
  // Two hours later, without a refit, at the planned pace: the same end.
  const later = f.projectWindow({ windowStart: 7 * DAY_MS, windowEnd: 10 * DAY_MS, now: now + 2 * HOUR_MS, spentSoFar: 140 });
  assert.ok(Math.abs(later.p50 - 720) < 1e-6, `${later.p50}`);
  assert.throws(() => f.projectWindow({ windowStart: 0, windowEnd: DAY_MS, now: now - 1, spentSoFar: 0 }), /before the fit/);
});

test('a history with no spend forecasts no spend beyond what the window already has', () => {
  const s = hourly(5, () => 0);
  const now = 4 * DAY_MS + 12 * HOUR_MS;
  const p = fitForecaster(s, { now }).projectWindow({ windowStart: 4 * DAY_MS, windowEnd: 5 * DAY_MS, now, spentSoFar: 0 });
  assert.deepEqual([p.p10, p.p50, p.p90], [0, 0, 0]);
  assert.equal(fitForecaster(s, { now }).exhaustionTime(1, { windowStart: 4 * DAY_MS, windowEnd: 5 * DAY_MS, now, spentSoFar: 0 }), null);
});

test('no peeking: data at or after `now` does not change the forecast', () => {
  const s = hourly(14, shaped);
  const now = 10 * DAY_MS + 9 * HOUR_MS;
  const q = { windowStart: 10 * DAY_MS, windowEnd: 11 * DAY_MS, now, spentSoFar: s.values.slice(240, 249).reduce((a, b) => a + b, 0) };
  const full = fitForecaster(s, { now }).projectWindow(q);
  const cut = fitForecaster(sliceSeries(s, 0, now), { now }).projectWindow(q);
  assert.deepEqual(cut, full);
});

test('days follow dayOffsetMs: a cycle on local days is learnt the same way as on UTC days', () => {
  const off = -2 * HOUR_MS; // UTC+2: local midnight is 22:00 UTC
  const utc = hourly(14, shaped);
  const local = makeSeries(off, HOUR_MS, utc.values);
  const now = 10 * DAY_MS + 12 * HOUR_MS;
  const q = { windowStart: 10 * DAY_MS, windowEnd: 11 * DAY_MS, now, spentSoFar: utc.values.slice(240, 252).reduce((a, b) => a + b, 0) };
  const a = fitForecaster(utc, { now }).projectWindow(q);
  const b = fitForecaster(local, { now: now + off, dayOffsetMs: off }).projectWindow({
    ...q,
    windowStart: q.windowStart + off,
    windowEnd: q.windowEnd + off,
    now: now + off,
  });
  assert.ok(Math.abs(a.p50 - b.p50) < 1e-6 * a.p50, `${a.p50} vs ${b.p50}`);
});

test('a service with no spend after 17:00: the band late in the day stays near what was spent (no e^20 from a rest of nothing)', () => {
  // Office hours only; the rest of the day is exactly zero, so every method's rest is zero or a
  // speck, and a band read on log(rest) alone spread them e^20 apart (p90 in the millions).
  const office = (d: number, h: number) => (h >= 8 && h < 17 ? 1 + 3 * (0.5 + noise(d * 24 + h)) : 0);
  for (const [days, at, most] of [
    [3, 17.5, 3.5],
    [3, 20.5, 2],
    [8, 20.5, 1.05],
  ] as const) {
    for (let t = 0; t < 10; t++) {
      const s = hourly(days + 1, (d, h) => office(d + 100 * t, h));
      const now = days * DAY_MS + at * HOUR_MS;
      let spent = 0;
      for (let h = 0; h < Math.floor(at); h++) spent += office(days + 100 * t, h);
      const p = fitForecaster(s, { now }).projectWindow({
        windowStart: days * DAY_MS,
        windowEnd: (days + 1) * DAY_MS,
        now,
        spentSoFar: spent,
      });
      assert.ok(spent <= p.p10 && p.p10 <= p.p50 && p.p50 <= p.p90, JSON.stringify(p));
      assert.ok(p.p90 <= most * spent, `${days} days, ${at} h: p90 ${p.p90.toFixed(2)} against ${spent.toFixed(2)} spent`);
      // The path's first knot: a window one minute long has a band one minute wide, not δ's.
      const knot = fitForecaster(s, { now }).projectWindow({ windowStart: days * DAY_MS, windowEnd: now + 60_000, now, spentSoFar: spent });
      assert.ok(knot.p90 - spent <= 0.01 * spent, `${days} days, ${at} h: p90 a minute on ${knot.p90 - spent}`);
    }
  }
});

test('an office-hours service at 03:00, nothing spent yet today: the day still comes (a ratio of nothing has no say)', () => {
  // Linear and the seasonal rules scale today's spend, zero before 08:00; in a geometric
  // blend any weight on a zero made the whole day zero, so p50 was what was spent (nothing).
  const office = (d: number, h: number) => (h >= 8 && h < 17 ? 1 + 3 * (0.5 + noise(d * 24 + h)) : 0);
  const days = 20;
  const s = hourly(days + 1, office);
  const now = days * DAY_MS + 3 * HOUR_MS;
  const level = Array.from({ length: 24 }, (_, h) => office(days - 1, h)).reduce((a, b) => a + b, 0);
  const f = fitForecaster(s, { now });
  const q = { windowStart: days * DAY_MS, windowEnd: (days + 1) * DAY_MS, now, spentSoFar: 0 };
  const p = f.projectWindow(q);
  assert.ok(p.p50 > 0.7 * level && p.p50 < 1.3 * level, `p50 ${p.p50.toFixed(2)} against a day of about ${level.toFixed(2)}`);
  assert.ok(p.p10 <= p.p50 && p.p50 <= p.p90);
  const exhausted = f.exhaustionTime(0.5 * level, q);
  assert.ok(exhausted !== null && exhausted > now + 5 * HOUR_MS && exhausted < now + 14 * HOUR_MS, `exhaustion ${exhausted}`);
});

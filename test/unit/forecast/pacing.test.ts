/** Pacing rate, priority reserve, bucket capacity, published paths and live projections: pure functions, fake time. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pacedRate, zoneOffsetMs, LOW_PRIORITY_RESERVE } from '../../../src/forecast/pacing.ts';
import { bucketCapacity, paceStep } from '../../../src/budget/pace.ts';
import { knotTimes, pathAt, project, type ForecastPath } from '../../../src/forecast/path.ts';

const HOUR = 3_600_000;

test('pacedRate: none while the projection fits; otherwise what is left over what remains of the window', () => {
  assert.equal(pacedRate(100, 10, 0, 99, 10 * HOUR, 0), null);
  assert.equal(pacedRate(100, 10, 0, 100, 10 * HOUR, 0), null, 'exactly at the limit is fine');
  assert.equal(pacedRate(100, 10, 30, 150, 10 * HOUR, 0), 60 / (10 * HOUR));
  assert.equal(pacedRate(100, 120, 0, 150, 10 * HOUR, 0), 0, 'already over: nothing more');
  assert.equal(pacedRate(100, 10, 0, 150, 5, 5), 0, 'window over');
});

test('bucket: capacity is burst seconds of the rate but always fits one request; low priority keeps a reserve', () => {
  assert.equal(bucketCapacity(10, 300, 5), 3_000_000);
  assert.equal(bucketCapacity(0.001, 300, 5_000), 5_000);
  const cap = 1000;
  let st = paceStep(null, 400, 1, cap, 0, 0);
  assert.deepEqual(st.result, { ok: true, waitMs: 0 });
  st = paceStep(st.state, 400, 1, cap, cap * LOW_PRIORITY_RESERVE, 0);
  assert.deepEqual(st.result, { ok: false, waitMs: 300 }, 'level 600 − 400 < reserve 500: low priority waits');
  st = paceStep(st.state, 400, 1, cap, 0, 0);
  assert.equal(st.result.ok, true, 'normal priority still passes');
});

test('zoneOffsetMs follows DST', () => {
  assert.equal(zoneOffsetMs('UTC', Date.UTC(2026, 0, 1)), 0);
  assert.equal(zoneOffsetMs('Europe/Berlin', Date.UTC(2026, 0, 15)), HOUR);
  assert.equal(zoneOffsetMs('Europe/Berlin', Date.UTC(2026, 6, 15)), 2 * HOUR);
  assert.equal(zoneOffsetMs('Asia/Kolkata', Date.UTC(2026, 6, 15)), 5.5 * HOUR);
});

test('a published path re-projects with the spend seen since the fit, and finds the exhaustion time', () => {
  const path: ForecastPath = {
    budget: 'b', instance: '*', windowId: 'w', windowStart: 0, windowEnd: 10 * HOUR, fittedAt: 0, method: 'profile', coldStart: false,
    // Expected spend: 10 per hour at p50, 5 at p10, 20 at p90.
    knots: knotTimes(0, 10 * HOUR).map((t) => [t, (5 * t) / HOUR, (10 * t) / HOUR, (20 * t) / HOUR]),
  };
  assert.equal(pathAt(path, 2, 2.5 * HOUR), 25);
  const live = project(path, 40, 4 * HOUR, 90);
  assert.equal(live.p50, 40 + 60);
  assert.equal(live.p10, 40 + 30);
  assert.equal(live.p90, 40 + 120);
  assert.equal(live.exhaustionAt, 9 * HOUR, '40 spent + 10/h reaches 90 five hours later');
  assert.equal(live.rateP50, 10);
  assert.equal(project(path, 40, 4 * HOUR, 200).exhaustionAt, null);
  assert.equal(project(path, 95, 4 * HOUR, 90).exhaustionAt, 4 * HOUR, 'already exhausted: now');
});

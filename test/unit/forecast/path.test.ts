/** Published forecast paths and live projections: pure functions, fake time. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HOUR_MS as HOUR } from '../../../src/core/time.ts';
import { knotTimes, pathAt, project, type ForecastPath } from '../../../src/forecast/path.ts';

test('a published path re-projects with the spend seen since the fit, and finds the exhaustion time', () => {
  const path: ForecastPath = {
    budget: 'b',
    instance: '*',
    windowId: 'w',
    windowStart: 0,
    windowEnd: 10 * HOUR,
    fittedAt: 0,
    method: 'profile',
    coldStart: false,
    // Expected spend: 10 per hour at p50, 5 at p10, 20 at p90.
    knots: knotTimes(0, 10 * HOUR).map((t) => [t, (5 * t) / HOUR, (10 * t) / HOUR, (20 * t) / HOUR]),
  };
  assert.equal(pathAt(path, 2, 2.5 * HOUR), 25);
  const live = project(path, 40, 4 * HOUR, 90);
  assert.equal(live.p50, 40 + 60);
  assert.equal(live.p10, 40 + 30);
  assert.equal(live.p90, 40 + 120);
  assert.equal(live.exhaustionAt, 9 * HOUR, '40 spent + 10/h reaches 90 five hours later');
  assert.equal(live.exhaustionEarliest, 4 * HOUR + 2.5 * HOUR, 'p90 path: 20/h reaches 90 after 2.5 h');
  assert.equal(live.exhaustionLatest, null, 'p10 path: 5/h reaches only 70 by the window end');
  assert.equal(live.rateP50, 10);
  assert.equal(project(path, 40, 4 * HOUR, 200).exhaustionAt, null);
  assert.equal(project(path, 95, 4 * HOUR, 90).exhaustionAt, 4 * HOUR, 'already exhausted: now');
});

/** The pacing rate: pure, fake time. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pacedRate } from '../../../../src/budget/pacing/rate.ts';
import { HOUR_MS as HOUR } from '../../../../src/core/time.ts';

test('pacedRate: none while the projection fits; otherwise what is left over what remains of the window', () => {
  assert.equal(pacedRate(100, 10, 0, 99, 10 * HOUR, 0), null);
  assert.equal(pacedRate(100, 10, 0, 100, 10 * HOUR, 0), null, 'exactly at the limit is fine');
  assert.equal(pacedRate(100, 10, 30, 150, 10 * HOUR, 0), 60 / (10 * HOUR));
  assert.equal(pacedRate(100, 120, 0, 150, 10 * HOUR, 0), 0, 'already over: nothing more');
  assert.equal(pacedRate(100, 10, 0, 150, 5, 5), 0, 'window over');
});

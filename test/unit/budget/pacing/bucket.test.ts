/** The pacing token bucket: capacity, refill and the low-priority reserve; pure, fake time. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketCapacity, LOW_PRIORITY_RESERVE, paceStep } from '../../../../src/budget/pacing/bucket.ts';

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

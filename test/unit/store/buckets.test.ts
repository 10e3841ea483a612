import assert from 'node:assert/strict';
import { test } from 'node:test';
import { recordDeltas, tokenCounts } from '../../../src/store/buckets.ts';
import { rec, usage } from '../../contract/fixtures.ts';

test('cache writes: the part outside the 5m/1h split counts as 5m, never negative', () => {
  const t = (c: number, c5: number | null, c1: number | null) =>
    tokenCounts(usage({ cacheCreation: c, cacheCreation5m: c5, cacheCreation1h: c1 }));
  assert.deepEqual([t(100, null, null).cache_creation_5m, t(100, null, null).cache_creation_1h], [100, 0]);
  assert.deepEqual([t(100, 30, 50).cache_creation_5m, t(100, 30, 50).cache_creation_1h], [50, 50]);
  assert.deepEqual([t(100, null, 100).cache_creation_5m, t(100, null, 100).cache_creation_1h], [0, 100]);
  assert.deepEqual([t(10, 30, 50).cache_creation_5m, t(10, 30, 50).cache_creation_1h], [30, 50]);
});

test('recordDeltas omits zero counters and always counts the request', () => {
  assert.deepEqual(recordDeltas(rec({ usage: null, usageMissing: 'no_usage_field', costPicoUsd: 0 })), [
    ['req', 1],
    ['miss', 1],
  ]);
  assert.deepEqual(recordDeltas(rec({ status: 500, usage: usage({ input: 3, output: 0 }), costPicoUsd: 9 })), [
    ['req', 1],
    ['err', 1],
    ['in', 3],
    ['cost', 9],
    ['bill:USD', 9],
  ]);
  // Billed in another currency, or at no known price: the counter of that currency, or the unpriced count.
  assert.deepEqual(recordDeltas(rec({ costPicoUsd: 9, currency: 'CNY', billedPico: 64 })).slice(-2), [
    ['cost', 9],
    ['bill:CNY', 64],
  ]);
  assert.deepEqual(recordDeltas(rec({ costPicoUsd: 9, currency: 'CNY', billedPico: 0, billedUnpriced: true })).slice(-2), [
    ['cost', 9],
    ['bunpr', 1],
  ]);
});

/** The cost estimator from a cold start: priors by model and max_tokens bucket, max_tokens only as a cap, learned bytes per token. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CostEstimator, maxTokensBucket } from '../../../src/budget/estimate.ts';
import { emptyUsage } from '../../../src/core/usage.ts';

const usage = (input: number, output: number) => ({ ...emptyUsage(), input, output });

test('nothing learned: prompt bytes / 3 and min(4096, max_tokens) output', () => {
  const e = new CostEstimator();
  assert.deepEqual(e.estimate('m', 'k', 3000, 1024), { promptTokens: 1000, outputTokens: 1024 });
  assert.deepEqual(e.estimate('m', 'k', 3000, 64_000), { promptTokens: 1000, outputTokens: 4096 });
});

test('one settle of the model teaches every key: output from the prior of its max_tokens bucket, bytes per token from the settle', () => {
  const e = new CostEstimator();
  e.observe('m', 'k1', 4000, usage(1000, 190), 1024);
  assert.deepEqual(e.estimate('m', 'k2', 4000, 1024), { promptTokens: 1000, outputTokens: 190 }, 'a new key of the same model');
  assert.deepEqual(e.estimate('other', 'k3', 4000, 1000), { promptTokens: 1000, outputTokens: 190 }, 'a new model: the all-models prior');
  assert.equal(e.estimate('m', 'k2', 4000, 64_000).outputTokens, 4096, 'another max_tokens bucket has no prior yet');
  assert.equal(e.estimate('m', 'k2', 4000, 100).outputTokens, 100, 'max_tokens caps it');
});

test("a key's own history (5 outputs in the bucket) replaces the prior, at its 95th percentile", () => {
  const e = new CostEstimator();
  for (let i = 0; i < 20; i++) e.observe('m', 'busy', 400, usage(100, 50), 1024);
  for (const out of [300, 310, 320, 330, 340]) e.observe('m', 'long', 400, usage(100, out), 1024);
  assert.equal(e.estimate('m', 'long', 400, 1024).outputTokens, 340);
  assert.equal(
    e.estimate('m', 'fresh', 400, 1024).outputTokens,
    330,
    'the prior holds both keys: its p95 (nearest rank of 25) is among the long outputs',
  );
  assert.equal(e.estimate('m', 'busy', 400, 1024).outputTokens, 50);
});

test('max_tokens buckets are powers of two', () => {
  assert.deepEqual([null, 0, 1, 256, 257, 1024, 4096, 64_000].map(maxTokensBucket), ['-', '-', '0', '8', '9', '10', '12', '16']);
});

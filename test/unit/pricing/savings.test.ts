/** cacheSavingsPico: cache tokens priced as plain input minus what they cost, exact, from the bundled table. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildPricer } from '../../../src/pricing/build.ts';
import { cacheSavingsPico } from '../../../src/pricing/savings.ts';

const pricer = buildPricer({ source: null, pricing: { file: null, models: {} } });
const AT = Date.parse('2026-11-28T12:00:00Z');

test('reads save input minus read rate; writes cost their premium over input (Haiku 4.5: $1 in, $0.10 read, $1.25 / $2 writes)', () => {
  assert.equal(cacheSavingsPico(pricer, 'claude-haiku-4-5', { cacheRead: 1000, cacheWrite5m: 0, cacheWrite1h: 0 }, AT), 1000n * 900_000n);
  assert.equal(cacheSavingsPico(pricer, 'claude-haiku-4-5', { cacheRead: 0, cacheWrite5m: 200, cacheWrite1h: 0 }, AT), -200n * 250_000n);
  assert.equal(
    cacheSavingsPico(pricer, 'claude-haiku-4-5-20251001', { cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 10 }, AT),
    -10n * 1_000_000n,
  );
  assert.equal(cacheSavingsPico(pricer, 'claude-haiku-4-5', { cacheRead: 1000, cacheWrite5m: 200, cacheWrite1h: 0 }, AT), 850_000_000n);
});

test('linear in the counts, so sums of many requests (billions of tokens) stay exact', () => {
  const one = cacheSavingsPico(pricer, 'claude-sonnet-4-6', { cacheRead: 2000, cacheWrite5m: 0, cacheWrite1h: 0 }, AT);
  assert.equal(one, 2000n * 2_700_000n);
  const many = cacheSavingsPico(pricer, 'claude-sonnet-4-6', { cacheRead: 2000 * 5_000_000, cacheWrite5m: 0, cacheWrite1h: 0 }, AT);
  assert.equal(many, one! * 5_000_000n);
});

test('an unknown model has no savings figure (null, never 0)', () => {
  assert.equal(cacheSavingsPico(pricer, 'claude-unknown-9', { cacheRead: 10, cacheWrite5m: 0, cacheWrite1h: 0 }, AT), null);
  assert.equal(cacheSavingsPico(pricer, null, { cacheRead: 10, cacheWrite5m: 0, cacheWrite1h: 0 }, AT), null);
});

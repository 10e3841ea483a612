import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeCost } from '../../../src/pricing/cost.ts';
import { bundledPriceTable, loadPriceTable } from '../../../src/pricing/table.ts';
import type { PicoRates } from '../../../src/pricing/types.ts';
import { NOW, oneModel, usage } from './fixtures.ts';

const table = bundledPriceTable();

/** Deterministic pseudo-random counts (LCG), so a failure reproduces. */
function* counts(seed: number): Generator<number> {
  let x = seed;
  for (;;) {
    x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
    yield x % 50_000;
  }
}

test('10,000 batch+geo Haiku 5.5 requests sum (as bigint) to exactly Σtokens × rates × 11/20', () => {
  const gen = counts(42);
  const next = (): number => gen.next().value as number;
  let sum = 0n;
  const tot = { input: 0n, output: 0n, c5m: 0n, c1h: 0n, unsplit: 0n, read: 0n, web: 0n };
  for (let i = 0; i < 10_000; i++) {
    // prompt ≤ 49,999 + 39,998 + 9,999 < 100,000: all on Haiku 5.5's base card, so the closed
    // form below needs one card.
    const input = next();
    const c5m = next() % 20_000;
    const c1h = next() % 20_000;
    const split = i % 3 !== 0; // a third report no TTL split
    const cacheCreation = c5m + c1h;
    const u = usage({
      input,
      output: next(),
      cacheCreation,
      cacheRead: next() % 10_000,
      cacheCreation5m: split ? c5m : null,
      cacheCreation1h: split ? c1h : null,
      webSearchRequests: i % 7,
      serviceTier: 'batch',
      inferenceGeo: 'us',
    });
    const r = computeCost(table, 'claude-haiku-5-5', u, NOW);
    assert.equal(r.tier, 'base');
    assert.ok(Number.isSafeInteger(r.costPicoUsd));
    sum += BigInt(r.costPicoUsd);
    tot.input += BigInt(u.input);
    tot.output += BigInt(u.output);
    tot.read += BigInt(u.cacheRead);
    tot.web += BigInt(u.webSearchRequests);
    if (split) {
      tot.c5m += BigInt(c5m);
      tot.c1h += BigInt(c1h);
    } else tot.unsplit += BigInt(cacheCreation);
  }
  // Haiku 5.5 base card in pico/token: 100,000 / 500,000 / 125,000 / 200,000 / 10,000.
  const tokens =
    tot.input * 100_000n + tot.output * 500_000n + (tot.c5m + tot.unsplit) * 125_000n + tot.c1h * 200_000n + tot.read * 10_000n;
  assert.equal((tokens * 11n) % 20n, 0n);
  assert.equal(sum, (tokens * 11n) / 20n + tot.web * 10_000_000_000n);
});

test('every bundled rate × batch × geo (×11/20) is an exact integer, so bundled prices never round', () => {
  const { batch, inferenceGeoUs: geo } = table.multipliers;
  const den = batch.den * geo.den;
  assert.deepEqual([batch.num, batch.den, geo.num, geo.den], [1n, 2n, 11n, 10n]);
  const cards: PicoRates[] = [];
  for (const m of table.models.values()) {
    for (const row of m.rows) {
      cards.push(row.base);
      if (row.fast) cards.push(row.fast);
      if (row.longPrompt) cards.push(row.longPrompt.rates);
    }
  }
  for (const card of cards) {
    for (const rate of Object.values(card)) {
      assert.ok(Number.isSafeInteger(rate) && rate > 0);
      assert.equal((BigInt(rate) * batch.num * geo.num) % den, 0n, `rate ${rate}`);
    }
  }
});

test('a rate finer than $0.001/MTok rounds half-up once per request, not per token class', () => {
  // 0.000001 $/MTok = 1 pico/token, batch ×1/2. 3 in + 3 out = 6 × 1/2 = 3 exactly;
  // 1 in + 2 out = 3 × 1/2 = 1.5 → 2 (half-up); 1 in + 1 out + 1 read: once 1.5 → 2, whereas
  // rounding each class (0.5 → 1 three times) would give 3.
  const t = loadPriceTable(
    oneModel('m', 'input: 0.000001, output: 0.000001, cache_write_5m: 0.000001, cache_write_1h: 0.000001, cache_read: 0.000001'),
    't.yaml',
  );
  const c = (u: Parameters<typeof usage>[0]) => computeCost(t, 'm', usage({ ...u, serviceTier: 'batch' }), NOW).costPicoUsd;
  assert.equal(c({ input: 3, output: 3 }), 3);
  assert.equal(c({ input: 1, output: 2 }), 2);
  assert.equal(c({ input: 1, output: 1, cacheRead: 1 }), 2);
  assert.equal(c({ input: 1 }), 1); // 0.5 → 1
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExchangeRates, isCurrency, rateProblem, scaleHalfEven } from '../../../src/core/currency.ts';

const r = (num: bigint, den: bigint) => ({ num, den });

test('a written rate converts exactly, the other direction is implied as its inverse', () => {
  const x = new ExchangeRates({ USD_CNY: 7.1 });
  assert.deepEqual(x.rate('USD', 'CNY'), r(71n, 10n));
  assert.deepEqual(x.rate('CNY', 'USD'), r(10n, 71n));
  assert.deepEqual(x.rate('EUR', 'EUR'), r(1n, 1n));
  assert.equal(x.rate('USD', 'EUR'), null);
  assert.equal(x.has('CNY', 'USD'), true);
  assert.equal(x.has('EUR', 'USD'), false);
  // $1 = 1e12 pico-USD → ¥7.1
  assert.equal(x.convert(1_000_000_000_000, 'USD', 'CNY'), 7_100_000_000_000);
  // ¥1 → $1/7.1 = 140,845,070,422.535… pico → …423 (not a half: nearest)
  assert.equal(x.convert(1_000_000_000_000, 'CNY', 'USD'), 140_845_070_423);
  assert.equal(x.convert(5, 'USD', 'USD'), 5);
  assert.equal(x.convert(5, 'USD', 'EUR'), null);
});

test('both directions written: each written rate wins over the implied one, in either order', () => {
  for (const config of [
    { USD_CNY: 7.1, CNY_USD: 0.14 },
    { CNY_USD: 0.14, USD_CNY: 7.1 },
  ]) {
    const x = new ExchangeRates(config);
    assert.deepEqual(x.rate('USD', 'CNY'), r(71n, 10n));
    assert.deepEqual(x.rate('CNY', 'USD'), r(7n, 50n)); // 0.14, not 1/7.1
  }
});

test('no rates: only the identity converts', () => {
  const x = new ExchangeRates();
  assert.equal(x.convert(123, 'JPY', 'JPY'), 123);
  assert.equal(x.rate('USD', 'JPY'), null);
});

test('rateProblem: why a configured rate is unusable', () => {
  assert.equal(rateProblem('USD_CNY', 7.1), undefined);
  assert.equal(rateProblem('USD_CNY', 0.000001), undefined);
  assert.equal(rateProblem('usd_cny', 7.1), "expected FROM_TO with two ISO 4217 codes (e.g. USD_CNY), got 'usd_cny'");
  assert.equal(rateProblem('USDCNY', 7.1), "expected FROM_TO with two ISO 4217 codes (e.g. USD_CNY), got 'USDCNY'");
  assert.equal(rateProblem('USD_USD', 1), 'converts USD to itself');
  assert.equal(rateProblem('USD_CNY', 0), 'must be greater than 0');
  assert.equal(rateProblem('USD_CNY', -7), 'must not be negative, got -7');
  assert.equal(rateProblem('USD_CNY', '7.1'), 'must be a number, got string "7.1"');
  assert.equal(
    rateProblem('USD_CNY', 7.1234567),
    'has more than 6 decimal places (7.1234567), so it is not an exact integer in pico-units',
  );
  assert.equal(rateProblem('USD_CNY', 2_000_000_000), 'must be at most 1000000000, got 2000000000');
  assert.equal(rateProblem('USD_CNY', Number.POSITIVE_INFINITY), 'must be a finite number, got Infinity');
});

test('the constructor refuses what rateProblem refuses, naming the pair', () => {
  assert.throws(() => new ExchangeRates({ USD_CNY: 0 }), { name: 'RangeError', message: 'exchange_rates.USD_CNY: must be greater than 0' });
  assert.throws(() => new ExchangeRates({ EUR_EUR: 1 }), { name: 'RangeError', message: 'exchange_rates.EUR_EUR: converts EUR to itself' });
});

test('scaleHalfEven: exact, halves to the even neighbour in both directions', () => {
  const half = r(1n, 2n);
  // 0.5 → 0, 1.5 → 2, 2.5 → 2, 3.5 → 4
  assert.deepEqual(
    [1, 3, 5, 7].map((p) => scaleHalfEven(p, half)),
    [0, 2, 2, 4],
  );
  // negatives mirror: -0.5 → 0, -1.5 → -2, -2.5 → -2
  assert.deepEqual(
    [-1, -3, -5].map((p) => scaleHalfEven(p, half)),
    [0, -2, -2],
  );
  // not a half: nearest (× 7/10: 2.1 → 2, 2.8 → 3)
  assert.deepEqual(
    [3, 4].map((p) => scaleHalfEven(p, r(7n, 10n))),
    [2, 3],
  );
  // factor 1 returns the same number
  assert.equal(scaleHalfEven(9_007_199_254_740_991, r(1n, 1n)), 9_007_199_254_740_991);
  // exact where a double is not: 1,200,000,000,000,022 × 7.3 = …160.6 → …161
  assert.equal(scaleHalfEven(1_200_000_000_000_022, r(73n, 10n)), 8_760_000_000_000_161);
  // past ±2^53: null, never a rounded wrong number
  assert.equal(scaleHalfEven(9_007_199_254_740_991, r(2n, 1n)), null);
  assert.equal(scaleHalfEven(-9_007_199_254_740_991, r(2n, 1n)), null);
  assert.equal(scaleHalfEven(9_007_199_254_740_991, r(1n, 2n)), 4_503_599_627_370_496); // …495.5 → even …496
});

test('property: scaleHalfEven equals a bigint half-even reference on both sides of 2^53', () => {
  const reference = (pico: number, num: bigint, den: bigint): number | null => {
    const n = BigInt(pico) * num;
    const m = n < 0n ? -n : n;
    let q = m / den;
    const twice = 2n * (m % den);
    if (twice > den || (twice === den && q % 2n === 1n)) q += 1n;
    if (q > BigInt(Number.MAX_SAFE_INTEGER)) return null;
    return Number(n < 0n ? -q : q);
  };
  // A fixed LCG: the same cases every run, so a failure reproduces.
  let seed = 20261207;
  const next = (bound: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return Math.floor((seed / 2147483648) * bound);
  };
  const dens = [1n, 2n, 4n, 5n, 8n, 10n, 20n, 25n, 100n, 125n, 1000n, 1_000_000n];
  for (let i = 0; i < 20_000; i++) {
    const den = dens[next(dens.length)] as bigint;
    const num = BigInt(next(20_000_000) + 1);
    const magnitude = [1_000, 1_000_000_000, 1_000_000_000_000, Number.MAX_SAFE_INTEGER][next(4)] as number;
    const pico = next(magnitude) * (next(8) === 0 ? -1 : 1);
    assert.equal(scaleHalfEven(pico, r(num, den)), reference(pico, num, den), `${pico} × ${num}/${den}`);
  }
});

test('isCurrency: three upper-case letters', () => {
  assert.equal(isCurrency('CNY'), true);
  assert.equal(isCurrency('cny'), false);
  assert.equal(isCurrency('RMB1'), false);
});

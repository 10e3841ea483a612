/**
 * A Biller for tests that bills the list price times a factor in another currency (a relay such
 * as HolySheep: "$1 of list price for ¥1" is CNY at factor 1). The pricing module's own biller
 * reads an upstream's `billing` section; this one is built from values, for gate and store tests.
 */
import { listBiller } from '../../src/pricing/billing.ts';
import { scaleHalfEven } from '../../src/core/currency.ts';
import type { Rational } from '../../src/core/decimal.ts';
import type { Biller, Pricer } from '../../src/pricing/types.ts';

export function factorBiller(pricer: Pricer, currency: string, factor: Rational = { num: 1n, den: 1n }): Biller {
  const list = listBiller(pricer);
  return {
    currency,
    bill(model, usage, ctx) {
      const b = list.bill(model, usage, ctx);
      return { ...b, currency, billedPico: b.billedUnpriced ? 0 : (scaleHalfEven(b.costPicoUsd, factor) ?? Number.NaN) };
    },
  };
}

/** Exactly `pico × num / den` rounded half to even, in bigint: the reference the tests compare conversions with. */
export function halfEven(pico: number, num: bigint, den: bigint): number {
  const n = BigInt(pico) * num;
  let q = n / den;
  const twice = 2n * (n % den);
  if (twice > den || (twice === den && q % 2n === 1n)) q += 1n;
  return Number(q);
}

/**
 * Exchange rates, exact. A rate is written as a decimal with at most 6 places
 * (`USD_CNY: 7.1` = 7.1 CNY per USD) and held as a reduced fraction, so a conversion is one
 * integer multiply and one divide, rounded once, half to even (banker's rounding: no drift in
 * either direction over many records). One direction implies the other (CNY_USD = 1/7.1).
 */
import { rationalFromScaled, scaleDecimal, type Rational } from './decimal.ts';
import { CURRENCY_CODE } from './money.ts';

/** Rates far above any real pair (1 USD is about 150k IRR) still fit the text form without exponents. */
const MAX_RATE = 1_000_000_000;
const PAIR = /^([A-Z]{3})_([A-Z]{3})$/;
const ONE: Rational = { num: 1n, den: 1n };

/** Why a configured rate is unusable, or undefined when it is fine (for config checks). */
export function rateProblem(pair: string, rate: unknown): string | undefined {
  const m = PAIR.exec(pair);
  if (m === null) return `expected FROM_TO with two ISO 4217 codes (e.g. USD_CNY), got '${pair}'`;
  if (m[1] === m[2]) return `converts ${m[1]} to itself`;
  if (typeof rate === 'number' && rate === 0) return 'must be greater than 0';
  const scaled = scaleDecimal(rate, MAX_RATE);
  return scaled.ok ? undefined : scaled.reason.replace('pico-USD', 'pico-units');
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * `pico × r` rounded half to even. Exact: bigint arithmetic, then back to a number (null past
 * ±2^53). `pico` is an integer (BigInt throws RangeError otherwise). A negative amount (a refund,
 * a negative saving) rounds as the mirror of its magnitude, so -2.5 → -2 and -3.5 → -4.
 */
export function scaleHalfEven(pico: number, r: Rational): number | null {
  if (r.num === r.den) return pico;
  // Plain numbers while the product is a safe integer (then it is exact: integers above 2^53
  // never round down to one), so a request billed at a factor allocates no bigint.
  const num = Number(r.num);
  const den = Number(r.den);
  const p = pico * num;
  if (Number.isSafeInteger(p) && Number.isSafeInteger(den)) {
    const a = Math.abs(p);
    const rem = a % den;
    let q = (a - rem) / den;
    if (2 * rem > den || (2 * rem === den && q % 2 === 1)) q += 1;
    return p < 0 && q !== 0 ? -q : q;
  }
  const n = BigInt(pico) * r.num;
  const m = n < 0n ? -n : n;
  let q = m / r.den;
  const twice = 2n * (m % r.den);
  if (twice > r.den || (twice === r.den && q % 2n === 1n)) q += 1n;
  if (q > MAX_SAFE) return null;
  return Number(n < 0n ? -q : q);
}

export class ExchangeRates {
  readonly #rates = new Map<string, Rational>();

  /** From the config's `exchange_rates` (validated by rateProblem first). Throws on a bad entry. */
  constructor(config: Readonly<Record<string, number>> = {}) {
    for (const [pair, rate] of Object.entries(config)) {
      const problem = rateProblem(pair, rate);
      if (problem !== undefined) throw new RangeError(`exchange_rates.${pair}: ${problem}`);
      const [from, to] = pair.split('_') as [string, string];
      const scaled = scaleDecimal(rate, MAX_RATE);
      if (!scaled.ok) throw new RangeError(scaled.reason);
      const r = rationalFromScaled(scaled.value);
      this.#rates.set(`${from}_${to}`, r);
      // The written direction wins over an implied one.
      if (!this.#rates.has(`${to}_${from}`) || config[`${to}_${from}`] === undefined)
        this.#rates.set(`${to}_${from}`, { num: r.den, den: r.num });
    }
  }

  /** Units of `to` per unit of `from`, or null when no rate is configured. */
  rate(from: string, to: string): Rational | null {
    if (from === to) return ONE;
    return this.#rates.get(`${from}_${to}`) ?? null;
  }

  has(from: string, to: string): boolean {
    return this.rate(from, to) !== null;
  }

  /** pico-`from` in pico-`to`, rounded once half to even; null when no rate is configured (or past 2^53). */
  convert(pico: number, from: string, to: string): number | null {
    const r = this.rate(from, to);
    return r === null ? null : scaleHalfEven(pico, r);
  }
}

export function isCurrency(code: string): boolean {
  return CURRENCY_CODE.test(code);
}

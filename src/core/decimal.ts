/**
 * Exact decimal → integer conversion for rates written in YAML.
 *
 * Why: money is integer pico-USD (1e-12 USD). A rate of $X per MTok is X·1e-6 USD per token,
 * i.e. X·1e6 pico-USD per token, so a rate with at most 6 decimal places converts to an exact
 * integer and anything finer cannot. We convert each YAML number ONCE, here, and never do
 * float arithmetic on money afterwards.
 */

/** An exact multiplier num/den (e.g. 1.1 = 11/10), so products stay integers. */
export interface Rational {
  readonly num: bigint;
  readonly den: bigint;
}

const PLACES = 6;
const SCALE = 1_000_000n;

export type Scaled = { ok: true; value: bigint } | { ok: false; reason: string };

/**
 * `n` × 1e6 as an exact bigint, or why not. `String(n)` is the shortest decimal that round-trips
 * the double, so it is the literal the user wrote, minus trailing zeros.
 */
export function scaleDecimal(n: unknown, max: number): Scaled {
  if (typeof n !== 'number') return { ok: false, reason: `must be a number, got ${describe(n)}` };
  if (!Number.isFinite(n)) return { ok: false, reason: `must be a finite number, got ${String(n)}` };
  if (n < 0) return { ok: false, reason: `must not be negative, got ${String(n)}` };
  if (n > max) return { ok: false, reason: `must be at most ${max}, got ${String(n)}` };
  const text = String(n);
  // Exponent notation only appears here for 0 < n < 1e-6 (n ≤ max rules out the large case),
  // which always has more than 6 decimal places.
  const [whole = '0', frac = ''] = text.split('.');
  if (text.includes('e') || frac.length > PLACES) {
    return {
      ok: false,
      reason: `has more than ${PLACES} decimal places (${text}), so it is not an exact integer in pico-USD`,
    };
  }
  return { ok: true, value: BigInt(whole) * SCALE + BigInt(frac.padEnd(PLACES, '0')) };
}

/** A decimal multiplier as a reduced exact fraction, e.g. 1.1 → 11/10, 0.5 → 1/2. */
export function rationalFromScaled(scaled: bigint): Rational {
  const g = gcd(scaled, SCALE);
  return { num: scaled / g, den: SCALE / g };
}

function gcd(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b;
  while (y !== 0n) [x, y] = [y, x % y];
  return x === 0n ? 1n : x;
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `string ${JSON.stringify(v)}`;
  return `${typeof v} ${String(v)}`;
}
